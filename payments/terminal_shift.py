"""One terminal's day: its sales and the shift close summary (the cashier's view and the terminal API).

Reads only: sales are the terminal's splits created in the period; the summary counts the ones the
customer paid (receipt statuses), the tip each staff member earned on them (their tip legs), what is
still open or was abandoned, and what is stuck (forwarding failed, or not finished well after payment).
Everything is scoped to the one terminal: nothing from the merchant's other terminals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from payments.models import PaymentLeg, PaymentSplit, SplitStatus, Terminal
from payments.models.splits import LegKind
from payments.receipts.document import RECEIPT_STATUSES
from payments.selectors_refunds import ShiftRefunds, shift_refunds

# A paid sale whose forwarding has not finished this long after payment is reported as stuck.
STUCK_AFTER = timedelta(minutes=10)
MAX_LISTED_SALES = 500
ABANDONED = (SplitStatus.EXPIRED, SplitStatus.CANCELLED)


@dataclass(frozen=True, kw_only=True, slots=True)
class StaffTips:
    name: str
    sats: int
    count: int  # sales whose tip this person shared


@dataclass(frozen=True, kw_only=True, slots=True)
class ShiftSummary:
    since: datetime
    until: datetime
    sales_count: int
    base_sats: int
    tip_sats: int
    total_sats: int
    tips_by_staff: tuple[StaffTips, ...]
    open_count: int  # invoices still waiting for payment
    abandoned_count: int  # expired or cancelled, never paid
    stuck: tuple[PaymentSplit, ...]  # paid, but forwarding failed or is late: tell the manager
    refunds: ShiftRefunds


def today_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start of today, start of tomorrow) in the server's time zone."""
    day = timezone.localdate(now)
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def terminal_sales(*, terminal_id: int, since: datetime, until: datetime) -> QuerySet[PaymentSplit]:
    """The terminal's invoices created in ``[since, until)``, newest first, any status."""
    return PaymentSplit.objects.filter(terminal_id=terminal_id, created_at__gte=since, created_at__lt=until).order_by(
        "-created_at", "-pk"
    )


def shift_summary(*, terminal: Terminal, since: datetime, until: datetime) -> ShiftSummary:
    sales = terminal_sales(terminal_id=terminal.pk, since=since, until=until)
    paid = sales.filter(status__in=RECEIPT_STATUSES)
    totals = paid.aggregate(
        count=Count("pk"), base=Sum("base_amount"), tip=Sum("tip_amount"), total=Sum("total_amount")
    )
    counts = sales.aggregate(
        open=Count("pk", filter=Q(status=SplitStatus.PENDING)),
        abandoned=Count("pk", filter=Q(status__in=ABANDONED)),
    )
    late = timezone.now() - STUCK_AFTER
    stuck = paid.filter(
        Q(status=SplitStatus.FAILED) | Q(status__in=(SplitStatus.PAID, SplitStatus.PROCESSING), paid_at__lt=late)
    )
    tips = (
        PaymentLeg.objects.filter(split__in=paid, kind=LegKind.TIP)
        .values("staff_id", "staff__display_name", "recipient_username")
        .annotate(sats=Sum("amount"), count=Count("split_id", distinct=True))
        .order_by("-sats", "staff__display_name")
    )
    return ShiftSummary(
        since=since,
        until=until,
        sales_count=totals["count"],
        base_sats=totals["base"] or 0,
        tip_sats=totals["tip"] or 0,
        total_sats=totals["total"] or 0,
        tips_by_staff=tuple(
            StaffTips(
                name=row["staff__display_name"] or row["recipient_username"], sats=row["sats"], count=row["count"]
            )
            for row in tips
        ),
        open_count=counts["open"],
        abandoned_count=counts["abandoned"],
        stuck=tuple(stuck[:MAX_LISTED_SALES]),
        refunds=shift_refunds(terminal=terminal, since=since, until=until),
    )
