"""Saved reports: parameters checked (a bad one is a form error naming it, never a 500), results and
CSV exports are what the SQL returns, every export is admin-logged, and the runner is read-only and
time-limited: a write is refused by PostgreSQL, a query past its timeout is stopped with a clear
message, and neither setting leaks into the caller's transaction."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console import reports
from console.readonly import ReadOnlyQueryError, read_only_query, read_only_rows
from payments.models import PaymentEvent, PaymentSplit, SplitStatus
from tests.factories import MerchantFactory, PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _csv(response: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))  # type: ignore[attr-defined]


def test_the_pending_report_returns_what_the_seed_query_returns_oldest_first(console_operator: Client) -> None:
    merchant = MerchantFactory(blink_username="cafe")
    old = PaymentSplitFactory(merchant=merchant, username="cafe", status=SplitStatus.PENDING)
    PaymentSplit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    new = PaymentSplitFactory(merchant=merchant, username="cafe", status=SplitStatus.PENDING)
    PaymentSplitFactory(merchant=merchant, username="cafe", status=SplitStatus.COMPLETED)
    PaymentSplitFactory(username="other", status=SplitStatus.PENDING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT payment_hash FROM payment_splits WHERE status='pending' AND username='cafe'")
        expected = {row[0] for row in cursor.fetchall()}

    url = reverse("admin:console_report", args=["pending-payments"])
    response = console_operator.get(url, {"merchant": "cafe", "older_than_minutes": "0", "limit": "100"})
    exported = console_operator.get(
        url, {"merchant": "cafe", "older_than_minutes": "0", "limit": "100", "export": "csv"}
    )

    assert response.status_code == 200
    rows = _csv(exported)
    assert [r["payment_hash"] for r in rows] == [old.payment_hash, new.payment_hash]
    assert set(r["payment_hash"] for r in rows) == expected
    body = response.content.decode()
    assert reverse("admin:payments_paymentsplit_change", args=[old.pk]) in body  # each row to its split
    entry = LogEntry.objects.get()
    assert entry.user.username == "console-operator"
    assert entry.change_message.startswith("export: report pending-payments (")

    # narrowed to older than an hour: only the old one
    older = _csv(
        console_operator.get(url, {"merchant": "cafe", "older_than_minutes": "60", "limit": "10", "export": "csv"})
    )
    assert [r["payment_hash"] for r in older] == [old.payment_hash]


def test_the_audit_trail_report_lists_a_payments_events_in_order(console_operator: Client) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    for event in ("created", "paid", "forwarding_started"):
        PaymentEvent.objects.create(split_id=split.payment_hash, event_type=event, event_data={"bolt11": "lnbc1x"})
    response = console_operator.get(
        reverse("admin:console_report", args=["audit-trail"]), {"payment_hash": split.payment_hash.upper()}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index("created") < body.index("forwarding_started")
    assert "lnbc1x" not in body  # event data is masked like everything else the console shows


@pytest.mark.parametrize(
    ("slug", "params", "field"),
    [
        ("audit-trail", {"payment_hash": "not-a-hash"}, "payment_hash"),
        ("pending-payments", {"older_than_minutes": "-5", "limit": "10"}, "older_than_minutes"),
        ("pending-payments", {"older_than_minutes": "0", "limit": "999999"}, "limit"),
        ("merchant-history", {"merchant": "", "limit": "10"}, "merchant"),
        ("merchant-history", {"merchant": "cafe", "status": "bogus", "limit": "10"}, "status"),
        ("day-statistics", {"day": "2024-13-45"}, "day"),
        ("recent-statistics", {"hours": "abc"}, "hours"),
    ],
)
def test_a_bad_parameter_is_a_form_error_naming_it(
    console_operator: Client, slug: str, params: dict, field: str
) -> None:
    response = console_operator.get(reverse("admin:console_report", args=[slug]), params)
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors
    assert 'class="errorlist' in response.content.decode()


def test_an_export_with_bad_parameters_exports_nothing(console_operator: Client) -> None:
    response = console_operator.get(
        reverse("admin:console_report", args=["audit-trail"]), {"payment_hash": "zz", "export": "csv"}
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert not LogEntry.objects.exists()


def test_an_unknown_report_is_404(console_operator: Client) -> None:
    assert console_operator.get(reverse("admin:console_report", args=["free-sql"])).status_code == 404


def test_the_statistics_reports_match_the_view(console_operator: Client) -> None:
    PaymentSplitFactory(status=SplitStatus.COMPLETED, tip_amount=70)
    PaymentSplitFactory(status=SplitStatus.PENDING)
    day = _csv(
        console_operator.get(reverse("admin:console_report", args=["day-statistics"]), {"day": "", "export": "csv"})
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT total_payments, total_tips FROM payment_statistics WHERE date = %s", [timezone.now().date()]
        )
        total, tips = cursor.fetchone()
    assert (int(day[0]["total_payments"]), int(day[0]["total_tips"])) == (total, tips) == (2, 70)
    recent = _csv(
        console_operator.get(
            reverse("admin:console_report", args=["recent-statistics"]), {"hours": "24", "export": "csv"}
        )
    )
    assert recent[0]["pending_count"] == "1" and recent[0]["total_tips_processed"] == "70"


# -- the runner ------------------------------------------------------------------------------------


def test_the_runner_refuses_to_write() -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING, tip_amount=5)
    with pytest.raises(ReadOnlyQueryError) as refused:
        read_only_rows("UPDATE payment_splits SET tip_amount = 0 WHERE id = %s RETURNING id", [split.pk])
    assert refused.value.code == "read_only"
    split.refresh_from_db()
    assert split.tip_amount == 5
    # and the caller's transaction is still writable afterwards (the READ ONLY setting did not leak)
    assert PaymentSplit.objects.filter(pk=split.pk).update(memo="still writable") == 1


def test_a_report_that_tries_to_write_is_refused_on_its_page(
    console_operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    writer = replace(
        reports.BY_SLUG["recent-statistics"],
        sql="UPDATE payment_splits SET status = 'cancelled' WHERE tip_amount >= %(hours)s RETURNING id",
    )
    monkeypatch.setitem(reports.BY_SLUG, "recent-statistics", writer)

    response = console_operator.get(reverse("admin:console_report", args=["recent-statistics"]), {"hours": "24"})

    assert response.status_code == 400
    assert "read-only" in response.content.decode()
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING


def test_the_runner_times_out_cleanly() -> None:
    with pytest.raises(ReadOnlyQueryError) as stopped:
        read_only_query("SELECT pg_sleep(3)", timeout_ms=200)
    assert stopped.value.code == "timeout"
    assert "0.2 s limit" in stopped.value.message
    # the timeout was SET LOCAL: gone with the transaction
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_slow_report_answers_with_a_clear_message_not_a_500(
    console_operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = replace(reports.BY_SLUG["recent-statistics"], sql="SELECT pg_sleep(3), %(hours)s AS hours", timeout_ms=200)
    monkeypatch.setitem(reports.BY_SLUG, "recent-statistics", slow)

    response = console_operator.get(reverse("admin:console_report", args=["recent-statistics"]), {"hours": "1"})

    assert response.status_code == 504
    assert 'id="report-error"' in response.content.decode()
    assert "limit and was stopped" in response.content.decode()
