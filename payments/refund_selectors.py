"""Reads about refunds and tip adjustments for the API, the dashboard, receipts, the cashier's shift
summary and the reports. Scoped to one merchant where a caller names one (another merchant's refund
is ``None``, like a missing one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum

from payments.models import PaymentSplit, Refund, RefundStatus, Staff, TipAdjustment
from payments.models.refunds import ACTIVE_STATUSES

R = RefundStatus


def refund_get_for_merchant(*, merchant_id: int, refund_id: int) -> Refund | None:
    return Refund.objects.filter(merchant_id=merchant_id, pk=refund_id).select_related("split").first()


def refunds_for_split(*, split: PaymentSplit) -> QuerySet[Refund]:
    return Refund.objects.filter(split=split).order_by("created_at", "pk")


def paid_refunds_for_split(*, split: PaymentSplit) -> QuerySet[Refund]:
    """The sale's refunds paid to the customer: the ones with a receipt (``/r/<token>/refunds/<id>/``)."""
    return Refund.objects.filter(split=split, status=R.PAID).order_by("paid_at", "pk")


def refunds_for_merchant(
    *, merchant_id: int, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Refund]:
    qs = Refund.objects.filter(merchant_id=merchant_id).select_related("split")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-pk")


@dataclass(frozen=True, kw_only=True)
class RefundSummary:
    """Refunds over a period, in sats: ``paid`` left the platform wallet to customers; ``open`` are
    funded or being paid (held for the customer); ``awaiting`` wait for the merchant's funding."""

    count: int
    paid_count: int
    paid_sats: int
    paid_tip_sats: int
    open_sats: int
    awaiting_sats: int


def _summary(qs: QuerySet[Refund]) -> RefundSummary:
    agg = qs.aggregate(
        count=Count("pk", filter=Q(status__in=ACTIVE_STATUSES)),
        paid_count=Count("pk", filter=Q(status=R.PAID)),
        paid=Sum("amount_sats", filter=Q(status=R.PAID)),
        paid_tip=Sum("tip_part_sats", filter=Q(status=R.PAID)),
        open=Sum("amount_sats", filter=Q(status__in=(R.FUNDED, R.PAYING, R.FAILED))),
        awaiting=Sum("amount_sats", filter=Q(status=R.AWAITING_FUNDING)),
    )
    return RefundSummary(
        count=agg["count"] or 0,
        paid_count=agg["paid_count"] or 0,
        paid_sats=agg["paid"] or 0,
        paid_tip_sats=agg["paid_tip"] or 0,
        open_sats=agg["open"] or 0,
        awaiting_sats=agg["awaiting"] or 0,
    )


def refund_summary_for_merchant(*, merchant_id: int, since: datetime, until: datetime) -> RefundSummary:
    return _summary(Refund.objects.filter(merchant_id=merchant_id, created_at__gte=since, created_at__lt=until))


def refund_summary_for_terminal(*, terminal_id: int, since: datetime, until: datetime) -> RefundSummary:
    """Refunds of the sales a terminal took, created in [since, until): the cashier's shift summary."""
    return _summary(Refund.objects.filter(split__terminal_id=terminal_id, created_at__gte=since, created_at__lt=until))


@dataclass(frozen=True, kw_only=True)
class TipAdjustmentLine:
    created_at: datetime
    kind: str
    amount_sats: int  # negative: owed from a refunded tip; positive: recovered from a later tip
    refund_id: int | None
    sale_payment_hash: str


def tip_adjustment_lines(
    *, staff_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[TipAdjustmentLine]:
    qs = TipAdjustment.objects.filter(staff_id=staff_id).select_related("refund__split", "split")
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return [
        TipAdjustmentLine(
            created_at=row.created_at,
            kind=row.kind,
            amount_sats=row.amount_sats,
            refund_id=row.refund_id,
            sale_payment_hash=(
                row.refund.split.payment_hash if row.refund else row.split.payment_hash if row.split else ""
            ),
        )
        for row in qs.order_by("created_at", "pk")
    ]


def tip_balances_to_recover(*, merchant_id: int) -> dict[int, int]:
    """Staff id -> sats still to recover from their future tips (only staff who owe anything)."""
    rows = (
        TipAdjustment.objects.filter(staff__merchant_id=merchant_id)
        .values("staff_id")
        .annotate(total=Sum("amount_sats"))
    )
    return {row["staff_id"]: -row["total"] for row in rows if (row["total"] or 0) < 0}


def staff_tip_balance(*, staff: Staff) -> int:
    total = TipAdjustment.objects.filter(staff=staff).aggregate(total=Sum("amount_sats"))["total"] or 0
    return max(-total, 0)
