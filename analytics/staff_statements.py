"""A staff member's own view of their work and money: shifts and hours, tips earned per sale or pooled,
payouts with their proof, refunded-tip adjustments. Everything is read through the one staff member
passed in (the signed-in one), so a page built from it cannot show anyone else's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from analytics.payout_lines import POOL_SHARE, SALE_TIP, PayoutLine, payout_lines
from analytics.payroll import PayrollRow, period_bounds
from payments.models import ClockEntry, PaymentLeg, PoolAllocation, Staff
from payments.refund_selectors import TipAdjustmentLine, staff_tip_balance, tip_adjustment_lines


@dataclass(frozen=True, kw_only=True)
class WorkedEntry:
    shift_id: int
    place: str  # the shift's location / terminal group
    shift_status: str
    clock_in_at: datetime
    clock_out_at: datetime | None
    seconds: int
    corrected: bool  # a manager changed the times (the reason is in the merchant's audit trail)

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.seconds) / Decimal(3600)).quantize(Decimal("0.01"))


@dataclass(frozen=True, kw_only=True)
class StaffOverview:
    staff: Staff
    date_from: date | None
    date_to: date | None
    summary: PayrollRow
    lines: list[PayoutLine]
    entries: list[WorkedEntry]
    adjustments: list[TipAdjustmentLine]
    to_recover: int  # sats still to be recovered from future tips for refunded ones


def _entries(staff: Staff, since: datetime | None, until: datetime | None) -> list[WorkedEntry]:
    qs = ClockEntry.objects.filter(staff=staff, shift__merchant_id=staff.merchant_id)
    if since is not None:
        qs = qs.filter(clock_in_at__gte=since)
    if until is not None:
        qs = qs.filter(clock_in_at__lt=until)
    now = timezone.now()
    return [
        WorkedEntry(
            shift_id=entry.shift_id,
            place=entry.shift.group.name,
            shift_status=entry.shift.status,
            clock_in_at=entry.clock_in_at,
            clock_out_at=entry.clock_out_at,
            seconds=max(int(((entry.clock_out_at or now) - entry.clock_in_at).total_seconds()), 0),
            corrected=entry.corrections.exists(),
        )
        for entry in qs.select_related("shift__group").order_by("-clock_in_at", "-pk")
    ]


def staff_overview(*, staff: Staff, date_from: date | None = None, date_to: date | None = None) -> StaffOverview:
    since, until = period_bounds(date_from, date_to)
    merchant = staff.merchant
    lines = payout_lines(merchant=merchant, staff_ids=[staff.pk], since=since, until=until)
    entries = _entries(staff, since, until)
    summary = PayrollRow(
        staff_id=staff.pk,
        staff_name=staff.display_name,
        payout_destination=staff.payout_destination,
        display_currency=merchant.display_currency,
    )
    summary.worked_seconds = sum(e.seconds for e in entries)
    for line in lines:
        summary.add(line)
    return StaffOverview(
        staff=staff,
        date_from=date_from,
        date_to=date_to,
        summary=summary,
        lines=list(reversed(lines)),  # newest first on the page
        entries=entries,
        adjustments=tip_adjustment_lines(staff_id=staff.pk, since=since, until=until),
        to_recover=staff_tip_balance(staff=staff),
    )


def staff_payout_line(*, staff: Staff, kind: str, object_id: int) -> PayoutLine | None:
    """One of the staff member's own lines (the proof page); None when it is not theirs or not there."""
    if kind == SALE_TIP:
        leg = PaymentLeg.objects.filter(pk=object_id, staff=staff, split__paid_at__isnull=False).first()
        if leg is None:
            return None
        paid_at = leg.split.paid_at
    elif kind == POOL_SHARE:
        allocation = PoolAllocation.objects.filter(pk=object_id, staff=staff).select_related("shift").first()
        if allocation is None or allocation.shift.closed_at is None:
            return None
        paid_at = allocation.shift.closed_at
    else:
        return None
    lines = payout_lines(merchant=staff.merchant, staff_ids=[staff.pk], since=paid_at, until=None)
    return next((x for x in lines if x.kind == kind and x.object_id == object_id), None)
