"""Per-merchant reports: tips by staff with statements (and refunded-tip adjustments), the end-of-day
report (with refunds) and daily totals.

Every function takes the merchant and only ever returns its rows, so a caller cannot leak another
merchant's figures by forgetting a filter. Days are local days (the active time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from payments.models import LegStatus, Merchant, PaymentLeg, PaymentSplit, Staff, TipAdjustment
from payments.refund_selectors import (
    refund_summary_for_merchant,
    refunds_for_merchant,
    tip_adjustment_lines,
    tip_balances_to_recover,
)

OPEN_LEG_STATUSES = (
    LegStatus.PLANNED,
    LegStatus.INVOICE_READY,
    LegStatus.SENDING,
    LegStatus.PENDING,
    LegStatus.UNKNOWN,
    LegStatus.FAILED,
)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())
    return start, start + timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class StaffTips:
    staff: Staff
    earned: int  # sats of tip legs on paid splits
    paid_out: int  # sats forwarded successfully
    resolved: int  # sats an operator marked settled by hand
    pending: int  # sats still owed (planned, sending, pending, unknown, failed)
    count: int
    # Refunded tips (docs/ARCHITECTURE.md, Refunds): the net of the period's adjustment lines (negative:
    # owed from refunded tips, positive: recovered from later tips) and what is still to recover now.
    adjustments: int = 0
    to_recover: int = 0


def _tip_legs(*, merchant: Merchant, date_from: date | None, date_to: date | None) -> QuerySet[PaymentLeg]:
    qs = PaymentLeg.objects.filter(split__merchant=merchant, kind="tip", split__paid_at__isnull=False)
    if date_from:
        qs = qs.filter(split__paid_at__gte=day_bounds(date_from)[0])
    if date_to:
        qs = qs.filter(split__paid_at__lt=day_bounds(date_to)[1])
    return qs


def tips_by_staff(*, merchant: Merchant, date_from: date | None = None, date_to: date | None = None) -> list[StaffTips]:
    staff = list(Staff.objects.filter(merchant=merchant).order_by("display_name"))
    # Only the merchant's own staff are listed below, so only their legs are summed: the filter changes
    # no figure, and it lets PostgreSQL read the legs from idx_leg_tip_staff (staff_id, split_id) and
    # the paid splits from idx_split_merchant_paid instead of every split of the merchant (migration 0006).
    totals = {
        row["staff_id"]: row
        for row in _tip_legs(merchant=merchant, date_from=date_from, date_to=date_to)
        .filter(staff_id__in=[s.pk for s in staff])
        .values("staff_id")
        .annotate(
            earned=Sum("amount", default=0),
            paid_out=Sum("amount", filter=Q(status=LegStatus.SUCCEEDED), default=0),
            resolved=Sum("amount", filter=Q(status=LegStatus.RESOLVED), default=0),
            pending=Sum("amount", filter=Q(status__in=OPEN_LEG_STATUSES), default=0),
            count=Count("*"),  # not Count("id"): the index holds no id, and a leg's id is never NULL
        )
    }
    adjusted = _adjustments_by_staff(merchant=merchant, date_from=date_from, date_to=date_to)
    owed = tip_balances_to_recover(merchant_id=merchant.pk)
    out = []
    for member in staff:
        row = totals.get(member.pk, {})
        out.append(
            StaffTips(
                staff=member,
                earned=row.get("earned", 0),
                paid_out=row.get("paid_out", 0),
                resolved=row.get("resolved", 0),
                pending=row.get("pending", 0),
                count=row.get("count", 0),
                adjustments=adjusted.get(member.pk, 0),
                to_recover=owed.get(member.pk, 0),
            )
        )
    return out


def _period(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    return (day_bounds(date_from)[0] if date_from else None, day_bounds(date_to)[1] if date_to else None)


def _adjustments_by_staff(*, merchant: Merchant, date_from: date | None, date_to: date | None) -> dict[int, int]:
    qs = TipAdjustment.objects.filter(staff__merchant=merchant)
    since, until = _period(date_from, date_to)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return {r["staff_id"]: r["total"] for r in qs.values("staff_id").annotate(total=Sum("amount_sats"))}


def staff_statement(
    *, merchant: Merchant, staff: Staff, date_from: date | None = None, date_to: date | None = None
) -> dict[str, Any]:
    """Every tip leg for one of the merchant's staff with its payout hash and preimage (the proof of
    payment). The caller looks ``staff`` up within the merchant (a stranger's staff is its 404)."""
    if staff.merchant_id != merchant.pk:
        raise ValueError("staff belongs to another merchant")
    legs = list(
        _tip_legs(merchant=merchant, date_from=date_from, date_to=date_to)
        .filter(staff=staff)
        .select_related("split")
        .order_by("-split__paid_at", "-pk")
    )
    summary = next(
        t for t in tips_by_staff(merchant=merchant, date_from=date_from, date_to=date_to) if t.staff.pk == staff.pk
    )
    since, until = _period(date_from, date_to)
    adjustments = tip_adjustment_lines(staff_id=staff.pk, since=since, until=until)
    return {"staff": staff, "legs": legs, "summary": summary, "adjustments": adjustments}


def end_of_day(*, merchant: Merchant, day: date) -> dict[str, Any]:
    start, end = day_bounds(day)
    sales = PaymentSplit.objects.filter(merchant=merchant, paid_at__gte=start, paid_at__lt=end)
    totals = sales.aggregate(
        count=Count("id"),
        volume=Sum("total_amount", default=0),
        base=Sum("base_amount", default=0),
        tips=Sum("tip_amount", default=0),
    )
    legs = PaymentLeg.objects.filter(split__in=sales)
    payouts = legs.aggregate(
        paid_out=Sum("amount", filter=Q(status=LegStatus.SUCCEEDED), default=0),
        fees=Sum("fee_sats", filter=Q(status=LegStatus.SUCCEEDED), default=0),
        open=Sum("amount", filter=Q(status__in=OPEN_LEG_STATUSES), default=0),
    )
    created = PaymentSplit.objects.filter(merchant=merchant, created_at__gte=start, created_at__lt=end)
    return {
        "day": day,
        "totals": totals,
        "payouts": payouts,
        "by_status": dict(created.values_list("status").annotate(n=Count("id")).values_list("status", "n")),
        "attention": list(
            legs.filter(status__in=(LegStatus.PENDING, LegStatus.UNKNOWN, LegStatus.FAILED))
            .select_related("split")
            .order_by("pk")
        ),
        "tips_by_staff": [
            t for t in tips_by_staff(merchant=merchant, date_from=day, date_to=day) if t.count or t.adjustments
        ],
        "refunds": refund_summary_for_merchant(merchant_id=merchant.pk, since=start, until=end),
        "refund_rows": list(refunds_for_merchant(merchant_id=merchant.pk, since=start, until=end)),
    }


def daily_totals(*, merchant: Merchant, days: int = 14) -> list[dict[str, Any]]:
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = {
        r["day"]: r
        for r in PaymentSplit.objects.filter(merchant=merchant, paid_at__gte=day_bounds(start)[0])
        .annotate(day=TruncDate("paid_at"))
        .values("day")
        .annotate(volume=Sum("total_amount", default=0), tips=Sum("tip_amount", default=0))
    }
    return [
        {
            "date": start + timedelta(days=i),
            "volume": rows.get(start + timedelta(days=i), {}).get("volume", 0),
            "tips": rows.get(start + timedelta(days=i), {}).get("tips", 0),
        }
        for i in range(days)
    ]
