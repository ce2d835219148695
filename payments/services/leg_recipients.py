"""A payout leg recorded before its recipient's wallet was known.

The legacy import creates tip legs for staff members whose Blink username could not be resolved
then (provider down, unknown username); such a leg has an empty ``recipient_wallet_id``. Forwarding
must neither pay someone else nor guess: the leg takes the staff member's wallet once an operator has
resolved it, and until then it fails for an operator without any provider call.
"""

from __future__ import annotations

from django.db import transaction

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, Staff
from payments.services.transitions import lock_legs, lock_split, record_event, transition_leg

log = get_logger(__name__)

RECIPIENT_UNRESOLVED = "RECIPIENT_UNRESOLVED"


def leg_take_staff_wallet(*, split_id: int, leg: PaymentLeg) -> bool:
    """True when the planned ``leg`` now has a wallet to pay (its staff member's, recorded with a
    ``leg_retry`` event, which is never deleted). False when it was failed instead: the member has no
    resolved wallet, or that wallet is already paid by another leg of this split. A failed leg is not
    retried automatically (``next_attempt_at`` empty), so the split waits in ``failed`` for an operator,
    whose retry after resolving the member's wallet pays the right person. Locks split then legs."""
    wallet_id = ""
    if leg.staff_id is not None:
        row = Staff.objects.filter(pk=leg.staff_id).values_list("wallet_id", "lightning_address").first()
        wallet_id, address = row or ("", "")
        if not wallet_id and address:
            return True  # paid through their Lightning address (payments/services/payout_plan.py)
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        legs = lock_legs(split)
        current = next(x for x in legs if x.pk == leg.pk)
        if current.status != LegStatus.PLANNED or current.recipient_wallet_id:
            leg.recipient_wallet_id = current.recipient_wallet_id
            return bool(current.recipient_wallet_id)
        if not wallet_id or any(x.recipient_wallet_id == wallet_id for x in legs):
            why = "has no resolved Blink wallet" if not wallet_id else "resolves to a wallet this payment already pays"
            transition_leg(
                current,
                LegStatus.FAILED,
                event_type="leg_failed",
                data={"error_code": RECIPIENT_UNRESOLVED, "attempt": current.attempts, "retry_at": None},
                last_error_code=RECIPIENT_UNRESOLVED,
                last_error=f"@{current.recipient_username} {why}; resolve the staff wallet, then retry.",
                next_attempt_at=None,
            )
            log.warning("forwarding.leg_recipient_unresolved", leg_id=leg.pk, staff_id=leg.staff_id)
            return False
        current.recipient_wallet_id = wallet_id
        current.save(update_fields=["recipient_wallet_id", "updated_at"])
        data = {"reason": "recipient_resolved", "wallet_id": wallet_id}
        record_event(split, "leg_retry", data, leg=current, from_status=LegStatus.PLANNED, to_status=LegStatus.PLANNED)
    leg.recipient_wallet_id = wallet_id
    log.info("forwarding.leg_recipient_resolved", leg_id=leg.pk, wallet_id=wallet_id)
    return True
