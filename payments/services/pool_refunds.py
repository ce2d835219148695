"""Refunded tips of pooled sales (docs/ARCHITECTURE.md, Shifts and pooled tips).

A refund that returns a pooled sale's tip is funded by the merchant, so the tip in the pool is theirs
again. Two cases, decided under the shift's row lock (the close takes the same lock first):

- the sale's shift is still open (or its tip waits as carry-over): nothing is written now; the close
  subtracts the paid refunds' tip parts from the pool (``pool_refunded_sats``) and pays them back to
  the merchant with the shift's merchant payout;
- the shift is closed (its pool was shared already): each person paid from it owes their part of the
  tip part, proportional to their pool shares: one negative ``refunded_tip`` line each, deducted from
  their next tips or pool shares (``tip_adjustments``), never taken from their wallets.
"""

from __future__ import annotations

from django.db.models import Sum

from blinkpos.logging import get_logger
from payments.domain.refund_amounts import proportional
from payments.models import (
    AdjustmentKind,
    PaymentSplit,
    PoolAccrual,
    Refund,
    RefundStatus,
    Shift,
    ShiftStatus,
    TipAdjustment,
)
from payments.services.transitions import record_event

log = get_logger(__name__)


def pool_refund_adjust_locked(*, split: PaymentSplit, refund: Refund) -> list[TipAdjustment]:
    """Precondition: the split and the refund are locked, in the transaction that marks the refund paid."""
    accrual = PoolAccrual.objects.filter(split=split).first()
    if accrual is None or accrual.shift_id is None:
        return []
    shift = Shift.objects.select_for_update(no_key=True, of=("self",)).get(pk=accrual.shift_id)
    if shift.status == ShiftStatus.OPEN:
        return []  # the close subtracts it (pool_refunded_sats)
    shares = list(shift.allocations.filter(share_sats__gt=0).order_by("staff_id").values_list("staff_id", "share_sats"))
    if not shares:
        return []
    part = min(refund.tip_part_sats, split.pooled_amount)
    made = []
    for (staff_id, _), owed in zip(shares, proportional(amount=part, weights=[s for _, s in shares]), strict=True):
        if owed <= 0:
            continue
        made.append(
            TipAdjustment.objects.create(
                staff_id=staff_id, kind=AdjustmentKind.REFUNDED_TIP, amount_sats=-owed, refund=refund
            )
        )
        record_event(
            split, "tip_adjusted", {"refund_id": refund.pk, "staff_id": staff_id, "amount_sats": -owed, "pooled": True}
        )
    log.info("pool_refund.adjusted", refund_id=refund.pk, shift_id=shift.pk, staff=len(made), tip_part=part)
    return made


def pool_refunded_sats(accruals: list[PoolAccrual]) -> int:
    """Sats of these accruals' tips the merchant refunded (paid refunds' tip parts, at most each pooled
    tip): taken out of the pool at close and paid back to the merchant."""
    split_ids = [a.split_id for a in accruals]
    rows = (
        Refund.objects.filter(split_id__in=split_ids, status=RefundStatus.PAID, tip_refunded=True)
        .values("split_id")
        .annotate(t=Sum("tip_part_sats"))
    )
    refunded = {row["split_id"]: int(row["t"] or 0) for row in rows}
    return sum(min(refunded.get(a.split_id, 0), a.amount_sats) for a in accruals)
