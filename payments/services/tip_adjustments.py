"""Tip adjustments: a refunded tip is recovered from the staff's later tips, never clawed back from their
wallets (docs/ARCHITECTURE.md, Refunds).

- When a refund that returned the tip is paid, each staff member who was paid a share of that sale's
  tip owes their share of the refund's tip part (``proportional`` over their tip legs): one negative
  ``refunded_tip`` line per staff member (``tip_adjustments_record_locked``).
- When a later sale starts forwarding (``paid -> processing``, before any payout invoice exists), each
  planned tip leg of a staff member who still owes is reduced by up to what they owe, and the merchant's
  base leg of the same sale grows by the same sats, so ``sum(legs) == received`` still holds; a
  positive ``recovery`` line records it (``tip_recoveries_apply_locked``). A tip leg recovered whole
  is removed (nothing to pay). A sale without a planned merchant leg recovers nothing.

A pooled sale's refunded tip is handled by ``pool_refunds`` (taken out of its open shift's pool, or
owed by the people its closed shift paid).

The balance still to recover is ``-sum(amount_sats)`` of a staff member's lines, never below zero.
Staff rows are locked (after the split and its legs) so two sales of one person cannot both recover
the same sats.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import router
from django.db.models import QuerySet, Sum

from blinkpos.logging import get_logger
from payments.domain.refund_amounts import proportional
from payments.models import (
    AdjustmentKind,
    BooksDifference,
    BooksTransaction,
    LegStatus,
    PaymentEvent,
    PaymentLeg,
    PaymentSplit,
    Refund,
    Staff,
    TipAdjustment,
)
from payments.models.splits import LegKind
from payments.prepared import values_rows
from payments.services.pool_refunds import pool_refund_adjust_locked
from payments.services.transitions import record_event

log = get_logger(__name__)


# Every forward of a tipped sale runs these two (the staff lock and their balances, issue 22): compiled
# once per process and number of staff (``values_rows``; an IN list has one parameter per id), not
# rebuilt by the ORM at each sale. Parameters in the compiled order: the ids, as given (sorted, unique).
def _staff_lock(*staff_ids: int) -> QuerySet[Staff, int]:
    return (
        Staff.objects.select_for_update(of=("self",))
        .filter(pk__in=staff_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _owed_totals(*staff_ids: int) -> QuerySet[Any]:
    return (
        TipAdjustment.objects.filter(staff_id__in=staff_ids).values_list("staff_id").annotate(total=Sum("amount_sats"))
    )


def staff_owed(staff_ids: list[int]) -> dict[int, int]:
    """Sats each staff member still owes from refunded tips (0 when nothing)."""
    ids = sorted(set(staff_ids))
    rows = (
        values_rows(f"tip_owed_{len(ids)}", _owed_totals, *ids, using=router.db_for_read(TipAdjustment)) if ids else []
    )
    # Raw rows: PostgreSQL's sum of a bigint is a numeric (Decimal), which the ORM converted to int.
    owed = {staff_id: max(-int(total or 0), 0) for staff_id, total in rows}
    return {staff_id: owed.get(staff_id, 0) for staff_id in staff_ids}


def tip_adjustments_record_locked(*, split: PaymentSplit, refund: Refund) -> list[TipAdjustment]:
    """The staff's shares of a paid refund's tip part become negative lines. Precondition: the split and
    the refund are locked (``refund_transitions.lock_refund``); runs in the ``paid`` transaction."""
    if not refund.tip_refunded or refund.tip_part_sats <= 0:
        return []
    if split.pooled_amount > 0:  # the tip went to a shift's pool, not to tip legs
        return pool_refund_adjust_locked(split=split, refund=refund)
    legs = list(
        PaymentLeg.objects.filter(split=split, kind=LegKind.TIP, staff__isnull=False, status=LegStatus.SUCCEEDED)
        .order_by("pk")
        .values_list("staff_id", "amount")
    )
    if not legs:
        return []
    by_staff: dict[int, int] = defaultdict(int)
    for (staff_id, _), part in zip(
        legs, proportional(amount=refund.tip_part_sats, weights=[a for _, a in legs]), strict=True
    ):
        by_staff[staff_id] += part
    made = []
    for staff_id, part in sorted(by_staff.items()):
        if part <= 0:
            continue
        made.append(
            TipAdjustment.objects.create(
                staff_id=staff_id, kind=AdjustmentKind.REFUNDED_TIP, amount_sats=-part, refund=refund
            )
        )
        record_event(split, "tip_adjusted", {"refund_id": refund.pk, "staff_id": staff_id, "amount_sats": -part})
    log.info("tip_adjustments.recorded", refund_id=refund.pk, staff=len(made), tip_part=refund.tip_part_sats)
    return made


def tip_recoveries_apply_locked(*, split: PaymentSplit, legs: list[PaymentLeg]) -> int:
    """Recover owed tips from this sale's planned tip legs into its merchant leg. Returns the sats moved.

    Precondition: inside ``transaction.atomic`` with the split and its legs locked, before any payout
    invoice of the sale was committed (the forward calls it as the split starts processing).
    """
    merchant_leg = next(
        (x for x in legs if x.kind == LegKind.MERCHANT and x.status == LegStatus.PLANNED and not x.payment_hash), None
    )
    tip_legs = [
        x for x in legs if x.kind == LegKind.TIP and x.staff_id and x.status == LegStatus.PLANNED and not x.payment_hash
    ]
    if merchant_leg is None or not tip_legs:
        return 0
    staff_ids = sorted({x.staff_id for x in tip_legs if x.staff_id is not None})
    values_rows(f"tip_staff_lock_{len(staff_ids)}", _staff_lock, *staff_ids, using=router.db_for_write(Staff))
    owed = staff_owed(staff_ids)
    taken: dict[int, int] = defaultdict(int)
    for leg in tip_legs:
        assert leg.staff_id is not None
        take = min(owed[leg.staff_id], leg.amount)
        if take <= 0:
            continue
        if take == leg.amount and not _removable(leg):
            take -= 1
            if take == 0:
                continue
        owed[leg.staff_id] -= take
        taken[leg.staff_id] += take
        if take == leg.amount:
            leg.delete()
        else:
            leg.amount -= take
            leg.save(update_fields=["amount", "updated_at"])
    moved = sum(taken.values())
    if not moved:
        return 0
    merchant_leg.amount += moved
    merchant_leg.save(update_fields=["amount", "updated_at"])
    for staff_id, amount in sorted(taken.items()):
        TipAdjustment.objects.create(staff_id=staff_id, kind=AdjustmentKind.RECOVERY, amount_sats=amount, split=split)
        record_event(
            split, "tip_recovered", {"staff_id": staff_id, "amount_sats": amount, "merchant_leg_id": merchant_leg.pk}
        )
    log.info("tip_adjustments.recovered", split_id=split.pk, sats=moved, staff=len(taken))
    return moved


def _removable(leg: PaymentLeg) -> bool:
    """A planned leg nothing refers to can go (an empty transfer would pay nothing)."""
    return not (
        PaymentEvent.objects.filter(leg=leg).exists()
        or BooksTransaction.objects.filter(leg=leg).exists()
        or BooksDifference.objects.filter(leg=leg).exists()
    )
