"""What happens to a leg and its split once an outcome is known (docs/ARCHITECTURE.md: money rules 2
and 3; Flows 3): succeeded, failed (retried after a backoff or left to an operator), re-armed for
another send, and the split completed, failed for an operator or resumed.

Every function ending in ``_locked`` runs inside the caller's transaction with the split and its legs
locked (``transitions.lock_split`` then ``lock_legs``). The send path (``forwarding``), the reconciler
(``reconcile``) and the operator's actions (``operator_actions``) all decide through these, so "needs an
operator" means the same thing everywhere:

- a ``failed`` leg with no retry scheduled (a non-retryable error, or ``FORWARD_MAX_ATTEMPTS`` sends used);
- a ``pending`` / ``unknown`` leg whose lookup at Blink failed ``FORWARD_LOOKUP_MAX_FAILURES`` times in a
  row (the lookups go on, an hour apart, so it settles by itself once Blink answers again), or whose
  payout invoice Blink says is paid though the platform wallet never sent it (``PAID_NOT_BY_US``).

A split is failed for an operator only when every leg is done or needs an operator: a leg that
cannot be retried never freezes the others while they still have a retry or a send to finish.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus, TipRecipientStats
from payments.models.splits import LegKind
from payments.provider_limits import LIMIT_RESTRICTED_CODES, limit_retry_at
from payments.services.leg_recipients import RECIPIENT_UNRESOLVED
from payments.services.transitions import record_event, transition_leg, transition_split
from payments.statements import statement_cursor
from payments.wallet.base import WalletProvider
from payments.wallet.errors import WalletError
from payments.wallet.types import InvoiceState, SendResult, preimage_matches

log = get_logger(__name__)

L, S = LegStatus, SplitStatus
DONE = frozenset({L.SUCCEEDED, L.RESOLVED})
IN_FLIGHT = frozenset({L.SENDING, L.PENDING, L.UNKNOWN})
# Errors a retry cannot fix: an operator has to act (recipient migrated or unknown; our key or data).
_NO_RETRY_RECIPIENT = ("RECEIVE_DISABLED", "NOT_FOUND", "RECIPIENT_NOT_FOUND", "WRONG_CURRENCY", "CANT_PAY_SELF")
_NO_RETRY_OURS = ("NOT_AUTHORIZED", "NOT_AUTHENTICATED", "INVALID_INPUT", "DUPLICATE_EXTERNAL_ID", "AMOUNT_MISMATCH")
NOT_RETRYABLE = frozenset((*_NO_RETRY_RECIPIENT, *_NO_RETRY_OURS, RECIPIENT_UNRESOLVED, "HTTP_401", "HTTP_403"))
# Blink's invoice is paid but the platform wallet's ledger holds no send for it: someone else paid it.
# Never re-sent; its outcome is known, so an operator may resolve the leg.
PAID_NOT_BY_US = "INVOICE_PAID_NO_SEND"
CENT = Decimal("0.01")


class ForwardingError(ApplicationError):
    """An operator action that does not apply to the payment or leg in its current state."""

    code = "forwarding_action_refused"
    http_status = 409


# --- settings ------------------------------------------------------------------------------------


def max_attempts() -> int:
    return int(getattr(settings, "FORWARD_MAX_ATTEMPTS", 5))


def lookup_max_failures() -> int:
    return int(getattr(settings, "FORWARD_LOOKUP_MAX_FAILURES", 5))


def backoff(attempts: int) -> timedelta:
    """Exponential: base, 2x base, 4x base... capped at an hour (``next_attempt_at``, not a countdown)."""
    base = float(getattr(settings, "FORWARD_RETRY_BASE_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600.0))


# --- who needs an operator -------------------------------------------------------------------------


def needs_operator(leg: PaymentLeg) -> bool:
    """A leg nothing automatic will finish (see the module docstring)."""
    if leg.status == L.FAILED:
        return leg.next_attempt_at is None
    if leg.status in (L.PENDING, L.UNKNOWN):
        return leg.lookup_failures >= lookup_max_failures() or leg.last_error_code == PAID_NOT_BY_US
    return False


def outcome_known(leg: PaymentLeg) -> bool:
    """Whether an operator may close the leg by hand: never while a send of ours may still be moving
    money (paying by hand then could pay twice)."""
    if leg.status in (L.PENDING, L.UNKNOWN):
        return leg.last_error_code == PAID_NOT_BY_US
    return leg.status == L.FAILED


def _progressing(leg: PaymentLeg) -> bool:
    return leg.status not in DONE and not needs_operator(leg)


# --- the committed payout invoice ----------------------------------------------------------------


def payout_invoice_state(payment_hash: str | None, *, provider: WalletProvider) -> InvoiceState | None:
    """Blink's word on a committed payout invoice; None when there is none or Blink cannot answer now.
    Called outside any transaction, before a re-arm decides between the same bolt11 and a new one.
    ``provider``: the sale's platform account's (``payments.platform_accounts``)."""
    if not payment_hash:
        return None
    try:
        return provider.invoice_status(payment_hash=payment_hash).state
    except WalletError as exc:
        log.warning("forwarding.payout_status_unavailable", payout_hash=payment_hash, error_code=exc.code)
        return None


def rearm_locked(
    leg: PaymentLeg, *, reason: str, invoice_state: InvoiceState | None, actor: str = "", replace: bool = False
) -> None:
    """failed -> invoice_ready (pay the SAME bolt11 again: ALREADY_PAID protects) or -> planned for a
    new invoice, only when there is no committed invoice or Blink itself says it EXPIRED. Never judged
    from our own clock: an invoice Blink still considers payable may have a send of ours on its way,
    and a second invoice would let both be paid. ``invoice_state`` None (Blink did not answer): the
    same bolt11, whose send fails explicitly if it really expired. ``replace``: the caller holds Blink's
    word that the committed invoice can no longer be paid by us (an outside invoice whose send Blink
    failed, or a custodial wallet that cannot receive: ``forwarding``)."""
    new_invoice = replace or not leg.payment_hash or invoice_state is InvoiceState.EXPIRED
    target = L.PLANNED if new_invoice else L.INVOICE_READY
    data: dict[str, object] = {
        "reason": reason,
        "same_invoice": not new_invoice,
        "invoice": invoice_state.value if invoice_state else None,
    }
    if actor:
        data["actor"] = actor
    transition_leg(leg, target, event_type="leg_retry", data=data, next_attempt_at=None)


# --- outcomes ------------------------------------------------------------------------------------


def leg_succeed_locked(
    split: PaymentSplit,
    legs: list[PaymentLeg],
    leg: PaymentLeg,
    *,
    result: SendResult | None,
    source: str,
    reimbursed: int | None = None,
) -> None:
    """Mark a locked leg succeeded; tip legs also count in ``tip_recipient_stats`` (same transaction);
    completes the split when this was the last leg. ``result.fee_sats`` is the fee Blink CHARGED (the
    send's settlementFee, what the books compare); ``reimbursed`` what it gave back, when known."""
    preimage = result.preimage if result else None
    if reimbursed is None and result is not None:
        reimbursed = result.fee_reimbursed_sats
    if preimage and not (leg.payment_hash and preimage_matches(preimage=preimage, payment_hash=leg.payment_hash)):
        preimage = None  # never store a "proof" that proves nothing
    now = timezone.now()
    transition_leg(
        leg,
        L.SUCCEEDED,
        event_type="leg_succeeded",
        data={
            "source": source,
            "fee_sats": result.fee_sats if result else None,
            "already_paid": bool(result and result.already_paid),
            "fee_reimbursed_sats": reimbursed,
            "payout_amount": leg.payout_amount,
        },
        succeeded_at=now,
        fee_sats=result.fee_sats if result and result.fee_sats is not None else leg.fee_sats,
        preimage=preimage or leg.preimage,
        fee_reimbursed_sats=reimbursed if reimbursed is not None else leg.fee_reimbursed_sats,
        next_attempt_at=None,
        last_error_code="",
        last_error="",
        lookup_failures=0,
    )
    if leg.kind == LegKind.TIP:
        record_event(
            split, "tip_sent", {"leg_id": leg.pk, "amount": leg.amount, "recipient": leg.recipient_username}, leg=leg
        )
        _stats_add(leg, now)
    complete_if_done_locked(split, legs)


# One statement instead of the ORM's three (insert-if-missing, lock, save): the upsert locks the row as
# SELECT ... FOR UPDATE did (lock order: split, legs, then this row; the stats job takes only the row).
_STATS_UPSERT = """
INSERT INTO tip_recipient_stats AS t (recipient_username, total_tips_received, total_tips_count,
    first_tip_received_at, last_tip_received_at, created_at, updated_at)
VALUES (%(username)s, %(amount)s, 1, %(when)s, %(when)s, %(now)s, %(now)s)
ON CONFLICT (recipient_username) DO UPDATE SET
    total_tips_received = t.total_tips_received + EXCLUDED.total_tips_received,
    total_tips_count = t.total_tips_count + 1,
    first_tip_received_at = LEAST(t.first_tip_received_at, EXCLUDED.first_tip_received_at),
    last_tip_received_at = GREATEST(t.last_tip_received_at, EXCLUDED.last_tip_received_at),
    updated_at = EXCLUDED.updated_at
RETURNING id, total_tips_received, total_tips_count
"""
# The average in Python, rounded as before (Decimal's half-even; SQL's round() is half-up).
_STATS_AVERAGE = "UPDATE tip_recipient_stats SET average_tip_amount = %s WHERE id = %s"


def _stats_add(leg: PaymentLeg, when: datetime) -> None:
    """Count the tip leg in its recipient's ``tip_recipient_stats`` row (created on the first tip)."""
    with statement_cursor(connections[router.db_for_write(TipRecipientStats)]) as cursor:
        cursor.execute(
            _STATS_UPSERT,
            {"username": leg.recipient_username, "amount": leg.amount, "when": when, "now": timezone.now()},
        )
        row = cursor.fetchone()
        assert row is not None
        stats_id, total, count = row
        cursor.execute(_STATS_AVERAGE, [(Decimal(total) / count).quantize(CENT), stats_id])


def leg_fail_locked(
    leg: PaymentLeg,
    *,
    code: str,
    message: str,
    retryable: bool = True,
    delay: timedelta | None = None,
    plan_refused: bool = False,
) -> None:
    """An explicit failure (or a send Blink confirms never happened). Retried after ``delay`` (default:
    the backoff for the attempts made) while sends remain and the error is one a retry can fix;
    otherwise ``next_attempt_at`` stays empty: an operator decides. ``plan_refused``: no invoice was
    committed (the payout planning refused it; its retries are bounded by the caller)."""
    retry = retryable and code not in NOT_RETRYABLE and (plan_refused or leg.attempts < max_attempts())
    next_at = timezone.now() + (delay if delay is not None else backoff(leg.attempts)) if retry else None
    if code in LIMIT_RESTRICTED_CODES:
        # Blink's daily volume limit: nothing moved and the window rolls on, so the leg waits on its own
        # bounded schedule (payments/provider_limits.py), not the attempt count; None: an operator.
        next_at = limit_retry_at(leg=leg)
    transition_leg(
        leg,
        L.FAILED,
        event_type="leg_failed",
        data={
            "error_code": code,
            "attempt": leg.attempts,
            "retry_at": next_at.isoformat() if next_at else None,
            **({"plan_refused": True, "reason": message[:500]} if plan_refused else {}),
        },
        last_error_code=code[:50],
        last_error=message[:500],
        next_attempt_at=next_at,
        lookup_failures=0,
    )
    log.warning("forwarding.leg_failed", leg_id=leg.pk, error_code=code, attempt=leg.attempts, retry=retry)


def complete_if_done_locked(split: PaymentSplit, legs: list[PaymentLeg]) -> bool:
    """Complete a locked processing split whose legs are all succeeded or resolved."""
    if split.status != S.PROCESSING or any(leg.status not in DONE for leg in legs):
        return False
    merchant = next((leg for leg in legs if leg.kind == LegKind.MERCHANT), None)
    tips = [leg for leg in legs if leg.kind == LegKind.TIP]
    summary = {
        "legs": len(legs),
        "forwarded_sats": sum(leg.amount for leg in legs if leg.status == L.SUCCEEDED),
        "resolved_sats": sum(leg.amount for leg in legs if leg.status == L.RESOLVED),
        "fees_sats": sum(leg.fee_sats or 0 for leg in legs),
    }
    transition_split(
        split,
        S.COMPLETED,
        event_type="forwarding_completed",
        data=summary,
        user_payment_hash=(merchant.payment_hash or "") if merchant else "",
        tip_payment_hash=(tips[0].payment_hash or "") if tips else "",
        processed_at=timezone.now(),
        next_attempt_at=None,
        error_message="",
    )
    record_event(split, "completed", summary, from_status=S.PROCESSING, to_status=S.COMPLETED)
    log.info("forwarding.completed", split_id=split.pk, payment_hash=split.payment_hash, **summary)
    return True


def fail_split(split: PaymentSplit, reason: str) -> None:
    transition_split(split, S.FAILED, event_type="failed", data={"reason": reason}, error_message=reason[:1000])
    log.error("forwarding.split_failed", split_id=split.pk, payment_hash=split.payment_hash, reason=reason)


def settle_locked(split: PaymentSplit, legs: list[PaymentLeg]) -> str:
    """After a pass: complete; fail for an operator when every open leg needs one; otherwise note
    when the next retry is due."""
    if split.status != S.PROCESSING:
        return str(split.status)
    if complete_if_done_locked(split, legs):
        return "completed"
    stuck = [leg for leg in legs if needs_operator(leg)]
    if stuck and not any(_progressing(leg) and not _base_waiting(split, leg) for leg in legs):
        reasons = "; ".join(f"leg {leg.pk} @{leg.recipient_username}: {_why(leg)}" for leg in stuck)
        fail_split(split, f"Needs an operator: {reasons}")
        return "failed"
    due = [leg.next_attempt_at for leg in legs if leg.status == L.FAILED and leg.next_attempt_at]
    next_at = min(due) if due else None
    if split.next_attempt_at != next_at:
        split.next_attempt_at = next_at
        split.save(update_fields=["next_attempt_at"])
    return "in_progress"


def _base_waiting(split: PaymentSplit, leg: PaymentLeg) -> bool:
    """A base leg planned last because its merchant absorbs the tips' fees (payout_plan): it cannot
    progress while a tip leg waits for an operator, so it does not keep the split from one."""
    return leg.kind == LegKind.MERCHANT and leg.status == L.PLANNED and split.merchant.absorbs_payout_fees


def _why(leg: PaymentLeg) -> str:
    if leg.status == L.FAILED:
        return leg.last_error_code
    if leg.last_error_code == PAID_NOT_BY_US:
        return f"{PAID_NOT_BY_US} (the payout invoice was paid, not from the platform wallet)"
    return f"LOOKUP_FAILED ({leg.status}: do not pay by hand until Blink's ledger answers)"


def resume_if_unblocked_locked(split: PaymentSplit, legs: list[PaymentLeg], *, reason: str) -> str:
    """A split failed for an operator whose legs no longer need one (a lookup finally answered)
    goes back to ``processing`` by itself: completed at once when every leg is done, otherwise
    ``resumed`` (the caller enqueues its forward after commit). Else the split is left as it is."""
    if split.status != S.FAILED or not legs or any(needs_operator(leg) for leg in legs):
        return str(split.status)
    transition_split(split, S.PROCESSING, event_type="forwarding_retried", data={"reason": reason}, error_message="")
    return "completed" if complete_if_done_locked(split, legs) else "resumed"
