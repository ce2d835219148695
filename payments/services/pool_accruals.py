"""Pooled tips accruing to a shift (docs/ARCHITECTURE.md, Shifts and pooled tips).

A pooled sale carries its tip in ``pooled_amount`` (no tip leg). When the sale starts forwarding
(``paid -> processing``, the money is on the platform wallet), ``pool_accrue_locked`` writes one
``PoolAccrual`` row (unique per split: a second forward finds it) and a ``tip_pooled`` money event, in
the forward's transaction. The accrual goes to the sale's shift while it is open; a shift closed in
the meantime has paid out already, so the tip waits with ``shift`` null for the next close of the same
group (``pool_carry_over_locked`` sweeps it in).

Lock order: the split (held by the caller), then the shift row (``FOR NO KEY UPDATE``). The close
takes the shift row first and never a split, so the two cannot deadlock; whichever commits first
decides whether the accrual belongs to the closing shift.
"""

from __future__ import annotations

from django.db.models import Sum

from blinkpos.logging import get_logger
from payments.models import PaymentSplit, PoolAccrual, Shift, ShiftStatus
from payments.services.shifts import shift_event
from payments.services.transitions import record_event

log = get_logger(__name__)


def pool_accrue_locked(*, split: PaymentSplit) -> PoolAccrual | None:
    """Record a paid pooled sale's tip in its shift's pool. Precondition: the split is locked and inside
    the transaction that moves it to ``processing``. Idempotent (one accrual per split)."""
    if split.pooled_amount <= 0 or split.shift_id is None:
        return None
    existing = PoolAccrual.objects.filter(split=split).first()
    if existing is not None:
        return existing
    shift = Shift.objects.select_for_update(no_key=True, of=("self",)).get(pk=split.shift_id)
    target = shift if shift.status == ShiftStatus.OPEN else None
    accrual = PoolAccrual.objects.create(
        split=split,
        merchant_id=split.merchant_id,
        group_id=shift.group_id,
        shift=target,
        amount_sats=split.pooled_amount,
    )
    data = {"shift_id": target.pk if target else None, "group_id": shift.group_id, "amount_sats": split.pooled_amount}
    record_event(split, "tip_pooled", data)
    shift_event(target, "pool_accrued", {"split_id": split.pk, **data})
    log.info("pool.accrued", split_id=split.pk, shift_id=data["shift_id"], amount=split.pooled_amount)
    return accrual


def pool_carry_over_locked(*, shift: Shift) -> int:
    """Sweep the group's accruals that arrived after their own shift closed into ``shift`` (locked, being
    closed). Returns the sats swept."""
    waiting = PoolAccrual.objects.filter(group_id=shift.group_id, shift__isnull=True)
    swept = int(waiting.aggregate(t=Sum("amount_sats"))["t"] or 0)
    if swept:
        count = waiting.update(shift=shift)
        shift_event(shift, "pool_carried_over", {"amount_sats": swept, "accruals": count})
    return swept


def shift_pool_sats(shift: Shift) -> int:
    """Sats accrued to ``shift`` so far (what a close would allocate, before any carry-over)."""
    return int(PoolAccrual.objects.filter(shift=shift).aggregate(t=Sum("amount_sats"))["t"] or 0)


def pool_waiting_sats(*, merchant_id: int | None = None) -> int:
    """Pooled sats still on the platform wallet: accrued and not yet paid out (open shifts, carry-overs,
    and closed shifts' payouts not succeeded). A liability of the platform towards staff."""
    from payments.models import PoolPayout, PoolPayoutStatus

    accruals = PoolAccrual.objects.all()
    paid = PoolPayout.objects.filter(status=PoolPayoutStatus.SUCCEEDED)
    if merchant_id is not None:
        accruals = accruals.filter(merchant_id=merchant_id)
        paid = paid.filter(shift__merchant_id=merchant_id)
    accrued = int(accruals.aggregate(t=Sum("amount_sats"))["t"] or 0)
    return accrued - int(paid.aggregate(t=Sum("amount_sats"))["t"] or 0)
