"""What an operator does about a payment forwarding could not finish (the admin's actions): retry a
failed payment, or resolve a leg that needs no more forwarding (paid by hand, written off...).

Both take the split's lock and then its legs' (the lock order of ``transitions``), write their events
naming the operator in the same transaction, and enqueue forwarding only after commit. A retry asks
Blink about each failed leg's payout invoice first (outside the transaction): only one Blink says
EXPIRED is replaced by a new invoice. A leg can be resolved only once its outcome is known
(``leg_outcomes.outcome_known``): never while a send of ours may still move money.
"""

from __future__ import annotations

from django.db import transaction

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, SplitStatus
from payments.platform_accounts import provider_for, split_account_id
from payments.services.enqueue import enqueue_forward
from payments.services.leg_outcomes import (
    DONE,
    ForwardingError,
    complete_if_done_locked,
    outcome_known,
    payout_invoice_state,
    rearm_locked,
)
from payments.services.transitions import lock_legs, lock_split, transition_leg, transition_split

log = get_logger(__name__)

L, S = LegStatus, SplitStatus


def forwarding_retry(*, split_id: int, actor: str) -> None:
    """An operator retries a failed payment: failed -> processing, each failed leg -> invoice_ready
    (same payout invoice) or planned (Blink says that invoice expired), events naming ``actor``; legs
    whose lookups failed are looked up again at once. Forwarding is enqueued after commit. Raises
    ``ForwardingError`` when the payment is not failed."""
    failed = PaymentLeg.objects.filter(split_id=split_id, status=L.FAILED).values_list("pk", "payment_hash")
    provider = provider_for(account_id=split_account_id(split_id=split_id))
    states = {pk: payout_invoice_state(payment_hash, provider=provider) for pk, payment_hash in failed}
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        if split is None:
            raise ForwardingError(f"Payment {split_id} does not exist.")
        if split.status != S.FAILED:
            raise ForwardingError(f"Only failed payments can be retried (this one is {split.status}).")
        legs = lock_legs(split)
        transition_split(
            split,
            S.PROCESSING,
            event_type="forwarding_retried",
            data={"actor": actor},
            error_message="",
            next_attempt_at=None,
        )
        for leg in legs:
            if leg.status == L.FAILED:
                rearm_locked(leg, reason="operator_retry", invoice_state=states.get(leg.pk), actor=actor)
            elif leg.status in (L.PENDING, L.UNKNOWN) and leg.lookup_failures:
                leg.lookup_failures, leg.next_attempt_at = 0, None
                leg.save(update_fields=["lookup_failures", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: enqueue_forward(split_id))
    log.info("forwarding.retried_by_operator", split_id=split_id, actor=actor)


def leg_resolve(*, leg_id: int, note: str, actor: str) -> None:
    """An operator closes a leg that needs no more forwarding (paid by hand, written off...): a failed
    leg (or one whose payout invoice someone else paid) becomes ``resolved`` with a ``leg_resolved``
    event holding the note and actor. When it was the last open leg, the payment completes in the same
    transaction. A leg in flight (sending, pending, unknown) is refused: its send may still settle, and
    paying it by hand too would pay twice."""
    note = (note or "").strip()
    if not note:
        raise ForwardingError("A note is required to resolve a leg.")
    split_id = PaymentLeg.objects.filter(pk=leg_id).values_list("split_id", flat=True).first()
    if split_id is None:
        raise ForwardingError(f"Leg {leg_id} does not exist.")
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        legs = lock_legs(split)
        leg = next(x for x in legs if x.pk == leg_id)
        if not outcome_known(leg):
            raise ForwardingError(
                f"Only failed legs can be resolved (this one is {leg.status}): wait until Blink's ledger says "
                "what happened to its payment."
            )
        transition_leg(
            leg,
            L.RESOLVED,
            event_type="leg_resolved",
            data={"note": note, "actor": actor, "previous_status": leg.status},
            resolution_note=note,
            next_attempt_at=None,
        )
        if all(x.status in DONE for x in legs) and split.status == S.FAILED:
            transition_split(
                split, S.PROCESSING, event_type="forwarding_retried", data={"actor": actor, "reason": "leg_resolved"}
            )
        complete_if_done_locked(split, legs)
    log.info("forwarding.leg_resolved", leg_id=leg_id, split_id=split_id, actor=actor)
