"""Saved operator reports: the seed's operator SQL (pending payments, a merchant's history, a payment's
audit trail, a day's and the last hours' statistics) as named, parameterised, read-only queries.

There is no free-form SQL: each report is fixed SQL with named parameters, each parameter a form field
that is validated before anything runs (a bad value is a form error naming the field). Reports run
through ``console.readonly`` (READ ONLY transaction, statement timeout); every cell shown or exported
passes through ``console.masking``. Ages use ``clock_timestamp()`` (when the report runs), not ``now()``
(when the enclosing transaction began, which inside a caller's transaction can be long before).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from console.masking import mask_cell
from console.readonly import DEFAULT_TIMEOUT_MS, read_only_query
from payments.models import SplitStatus

MAX_ROWS = 5000


def _limit_field() -> forms.IntegerField:
    return forms.IntegerField(label="rows at most", min_value=1, max_value=MAX_ROWS, initial=500)


class PendingPaymentsForm(forms.Form):
    older_than_minutes = forms.IntegerField(
        label="older than (minutes)", min_value=0, max_value=60 * 24 * 30, initial=0, required=False
    )
    merchant = forms.CharField(
        label="merchant username", max_length=50, required=False, help_text="empty: every merchant"
    )
    limit = _limit_field()


class MerchantHistoryForm(forms.Form):
    merchant = forms.CharField(
        label="merchant username or wallet id", max_length=100, help_text="the seed's user_wallet_id, or the username"
    )
    status = forms.ChoiceField(label="status", choices=[("", "any"), *SplitStatus.choices], required=False)
    limit = _limit_field()


class AuditTrailForm(forms.Form):
    payment_hash = forms.CharField(
        label="payment hash",
        min_length=64,
        max_length=64,
        validators=[RegexValidator(r"^[0-9a-fA-F]{64}$", "A payment hash is 64 hexadecimal characters.")],
    )

    def clean_payment_hash(self) -> str:
        return str(self.cleaned_data["payment_hash"]).lower()


class DayStatisticsForm(forms.Form):
    day = forms.DateField(label="day (UTC, YYYY-MM-DD)", required=False, help_text="empty: today")

    def clean_day(self) -> date:
        return self.cleaned_data.get("day") or timezone.now().date()


class RecentStatisticsForm(forms.Form):
    hours = forms.IntegerField(label="last hours", min_value=1, max_value=24 * 31, initial=24)


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    description: str
    sql: str
    form: type[forms.Form]
    # Turns the form's cleaned data into the SQL's named parameters.
    params: Callable[[dict[str, Any]], dict[str, Any]]
    timeout_ms: int = DEFAULT_TIMEOUT_MS


def _identity(data: dict[str, Any]) -> dict[str, Any]:
    return dict(data)


REPORTS: tuple[Report, ...] = (
    Report(
        slug="pending-payments",
        title="Pending payments",
        description="Invoices still waiting for the customer, oldest first (the seed's "
        "\"status = 'pending'\" query). An old one whose invoice has expired is a payment the expiry job "
        "has not reached.",
        sql="""
SELECT id, payment_hash, username AS merchant, total_amount, tip_amount, tip_recipient, created_at, expires_at,
       EXTRACT(EPOCH FROM (clock_timestamp() - created_at))::bigint AS age_seconds
  FROM payment_splits
 WHERE status = 'pending'
   AND created_at <= clock_timestamp() - make_interval(mins => %(older_than_minutes)s)
   AND (%(merchant)s = '' OR username = %(merchant)s)
 ORDER BY created_at
 LIMIT %(limit)s
""",
        form=PendingPaymentsForm,
        params=lambda d: {
            **d,
            "older_than_minutes": d.get("older_than_minutes") or 0,
            "merchant": d.get("merchant") or "",
        },
    ),
    Report(
        slug="merchant-history",
        title="A merchant's payment history",
        description="Every split of one merchant (by the wallet id the seed called user_wallet_id, or the "
        "username), newest first.",
        sql="""
SELECT id, payment_hash, total_amount, base_amount, tip_amount, tip_recipient, status, created_at, paid_at,
       processed_at
  FROM payment_splits
 WHERE (user_wallet_id = %(merchant)s OR username = %(merchant)s)
   AND (%(status)s = '' OR status = %(status)s)
 ORDER BY created_at DESC
 LIMIT %(limit)s
""",
        form=MerchantHistoryForm,
        params=lambda d: {**d, "status": d.get("status") or ""},
    ),
    Report(
        slug="audit-trail",
        title="A payment's audit trail",
        description="The payment_events of one payment hash in order: what happened to it, when.",
        sql="""
SELECT e.timestamp, e.event_type, e.from_status, e.to_status, e.leg_id, e.event_data, e.payment_hash
  FROM payment_events e
 WHERE e.payment_hash = %(payment_hash)s
 ORDER BY e.timestamp, e.id
""",
        form=AuditTrailForm,
        params=_identity,
    ),
    Report(
        slug="day-statistics",
        title="A day's statistics",
        description="The payment_statistics view's row for one UTC day (today by default).",
        sql="SELECT * FROM payment_statistics WHERE date = %(day)s",
        form=DayStatisticsForm,
        params=_identity,
    ),
    Report(
        slug="recent-statistics",
        title="Statistics of the last hours",
        description="Counts by status and completed tips over a rolling window (the seed's getStats(), "
        "24 hours by default).",
        sql="""
SELECT COUNT(*) FILTER (WHERE status = 'pending') AS pending_count,
       COUNT(*) FILTER (WHERE status IN ('paid', 'processing')) AS processing_count,
       COUNT(*) FILTER (WHERE status = 'completed') AS completed_count,
       COUNT(*) FILTER (WHERE status = 'failed') AS failed_count,
       COUNT(*) FILTER (WHERE status = 'expired') AS expired_count,
       COALESCE(SUM(tip_amount) FILTER (WHERE status = 'completed'), 0) AS total_tips_processed
  FROM payment_splits
 WHERE created_at > clock_timestamp() - make_interval(hours => %(hours)s)
""",
        form=RecentStatisticsForm,
        params=_identity,
    ),
)

BY_SLUG = {report.slug: report for report in REPORTS}


@dataclass
class ReportResult:
    columns: list[str]
    rows: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def run(report: Report, cleaned: dict[str, Any], *, timeout_ms: int | None = None) -> ReportResult:
    """Run a report with validated parameters. Raises ``console.readonly.ReadOnlyQueryError``."""
    columns, rows = read_only_query(report.sql, report.params(cleaned), timeout_ms=timeout_ms or report.timeout_ms)
    return ReportResult(columns=columns, rows=[[mask_cell(value) for value in row] for row in rows])
