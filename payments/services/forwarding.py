"""Forwarding: pay every leg of a paid split exactly once (docs/ARCHITECTURE.md: money rules 2, 3 and 5; Flows 3).

Per leg, in id order, each step a short transaction with the split locked first and its legs after
(the lock order of ``transitions``), and every provider call OUTSIDE any transaction:

1. ``planned``: create the recipient's payout invoice (``lnInvoiceCreateOnBehalfOfRecipient``), then
   commit its bolt11 and hash (``invoice_ready``). The commit is conditional on the leg still being
   ``planned``: if two workers raced, the loser's invoice is never committed and so never paid (an
   unpaid orphan invoice on the recipient's account costs nothing and expires).
2. ``invoice_ready`` -> ``sending`` (commit: the attempt is written down before the side effect),
   then ``pay_invoice`` of that committed bolt11, then record the outcome. The status is the claim:
   only one worker moves a leg out of ``invoice_ready``.
3. Outcomes: SUCCEEDED / ALREADY_PAID -> ``succeeded``; PENDING -> ``pending``; UNKNOWN -> ``unknown``
   (only a lookup moves those on, see ``reconcile.leg_resolve_pending``); an explicit FAILURE ->
   ``failed`` with a backoff in ``next_attempt_at`` (bounded attempts) or, for errors a retry cannot
   fix (RECEIVE_DISABLED, unknown recipient), no retry and the split ``failed`` for an operator.

Why retries cannot pay twice: every send of a leg pays the SAME committed bolt11; Blink settles an
invoice once and answers ALREADY_PAID afterwards. A new payout invoice is only created for a leg
whose previous invoice can no longer be paid (expired, or an explicit failure before any invoice).

Payout ``externalId`` (unique per recipient account): the leg's ``external_id``, then
``{external_id}-r{n}`` with n = invoices already committed for the leg. A crash between Blink's create
and our commit leaves the id taken: DuplicateExternalId moves to the next suffix (bounded). The
orphan was never committed, so nobody ever pays it.

When the last leg succeeds (or is resolved), the same transaction completes the split: status
``completed``, ``forwarding_completed`` + ``completed`` events, ``user_payment_hash`` /
``tip_payment_hash``, ``processed_at``. ``tip_recipient_stats`` is updated in the transaction of each
tip leg's success (the definition ``tip_stats.expected_stats`` verifies against, so the stats job
never sees drift); for the usual split the tip leg is the last one, so that is the completion
transaction too. The hot key is evicted after commit by ``transition_split``.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.faults import fault_point
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, TipRecipientStats
from payments.models.splits import LegKind
from payments.provider_limits import LIMIT_RESTRICTED_CODES, limit_retry_at
from payments.services.leg_recipients import RECIPIENT_UNRESOLVED, leg_take_staff_wallet
from payments.services.transitions import lock_legs, lock_split, record_event, transition_leg, transition_split
from payments.wallet.errors import DuplicateExternalId, InvalidInput, WalletError, WalletUnavailable
from payments.wallet.provider import get_wallet_provider
from payments.wallet.types import SendResult, SendStatus, preimage_matches

log = get_logger(__name__)

L, S = LegStatus, SplitStatus
DONE = frozenset({L.SUCCEEDED, L.RESOLVED})
IN_FLIGHT = frozenset({L.SENDING, L.PENDING, L.UNKNOWN})
# Errors a retry cannot fix: an operator has to act (recipient migrated or unknown; our key or data).
_NO_RETRY_RECIPIENT = ("RECEIVE_DISABLED", "NOT_FOUND", "RECIPIENT_NOT_FOUND", "WRONG_CURRENCY", "CANT_PAY_SELF")
_NO_RETRY_OURS = ("NOT_AUTHORIZED", "NOT_AUTHENTICATED", "INVALID_INPUT", "DUPLICATE_EXTERNAL_ID", "AMOUNT_MISMATCH")
NOT_RETRYABLE = frozenset((*_NO_RETRY_RECIPIENT, *_NO_RETRY_OURS, RECIPIENT_UNRESOLVED))
MAX_EXTERNAL_ID_SUFFIXES = 5
PAYOUT_INVOICE_MINUTES = 1440  # Blink's maximum; a payout invoice waiting on a retry stays payable
PAYOUT_EXPIRY_MARGIN = timedelta(minutes=10)  # treat an invoice this close to expiry as expired
CENT = Decimal("0.01")


class ForwardingError(ApplicationError):
    """An operator action that does not apply to the payment or leg in its current state."""

    code = "forwarding_action_refused"
    http_status = 409


# --- settings ------------------------------------------------------------------------------------


def max_attempts() -> int:
    return int(getattr(settings, "FORWARD_MAX_ATTEMPTS", 5))


def backoff(attempts: int) -> timedelta:
    """Exponential: base, 2x base, 4x base... capped at an hour (``next_attempt_at``, not a countdown)."""
    base = float(getattr(settings, "FORWARD_RETRY_BASE_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600.0))


# --- the advisory Redis lock ----------------------------------------------------------------------


def _lock_key(payment_hash: str) -> str:
    return f"lock:payment:{payment_hash}"


def _lock_acquire(payment_hash: str) -> str | None:
    """A token when acquired (or "" when Redis is away: PostgreSQL decides anyway); None when another
    worker holds it. Only avoids wasted work; correctness never depends on it."""
    token = secrets.token_hex(8)
    try:
        ok = get_redis_connection("hot").set(_lock_key(payment_hash), token, nx=True, ex=settings.CACHE_TTLS["lock"])
    except RedisError:
        return ""
    return token if ok else None


def _lock_release(payment_hash: str, token: str) -> None:
    if not token:
        return
    try:
        conn = get_redis_connection("hot")
        if conn.get(_lock_key(payment_hash)) == token.encode():
            conn.delete(_lock_key(payment_hash))
    except RedisError:
        pass  # it expires on its own


# --- the forwarder -------------------------------------------------------------------------------


def forward_split(*, split_id: int) -> str:
    """Forward every leg of a paid (or processing) split that is not yet done.

    Idempotent and safe concurrently with itself: each step claims its leg by status under the split
    lock. Returns the split's outcome for this pass (``completed``, ``failed``, ``in_progress``,
    ``busy``, ``missing`` or ``not_forwardable:<status>``). Raises ``WalletUnavailable`` when the
    provider cannot be reached (the task retries; nothing half-done is lost).
    """
    split = PaymentSplit.objects.filter(pk=split_id).only("payment_hash", "status").first()
    if split is None:
        return "missing"
    if split.status not in (S.PAID, S.PROCESSING):
        return "already_completed" if split.status == S.COMPLETED else f"not_forwardable:{split.status}"
    token = _lock_acquire(split.payment_hash)
    if token is None:
        return "busy"
    try:
        return _forward(split_id)
    finally:
        _lock_release(split.payment_hash, token)


def _forward(split_id: int) -> str:
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        if split is None:
            return "missing"
        legs = lock_legs(split)
        if split.status == S.PAID:
            transition_split(split, S.PROCESSING, event_type="forwarding_started", data={"legs": len(legs)})
        elif split.status != S.PROCESSING:
            return f"not_forwardable:{split.status}"
        problem = _conservation_problem(split, legs)
        if problem:
            _fail_split(split, problem)
            return "failed"
        todo = [leg.pk for leg in legs if leg.status not in DONE]
    for leg_id in todo:
        _advance_leg(split_id, leg_id)
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        return settle_locked(split, lock_legs(split))


def _conservation_problem(split: PaymentSplit, legs: list[PaymentLeg]) -> str:
    received = split.received_amount if split.received_amount is not None else split.total_amount
    if not legs:
        return "No payout legs: nothing to forward."
    total = sum(leg.amount for leg in legs)
    if total != received:
        return f"Legs sum to {total} sats but {received} sats were received."
    return ""


def _advance_leg(split_id: int, leg_id: int) -> str:
    """Walk one leg forward as far as it goes now: planned -> invoice_ready -> sending -> outcome."""
    for _ in range(4):
        leg = PaymentLeg.objects.get(pk=leg_id)
        if leg.status == L.PLANNED:
            if leg.next_attempt_at and leg.next_attempt_at > timezone.now():
                return "not_due"
            if not leg.recipient_wallet_id and not leg_take_staff_wallet(split_id=split_id, leg=leg):
                return "failed"
            if _leg_create_invoice(split_id, leg) != "created":
                return leg.status
            continue
        if leg.status == L.INVOICE_READY:
            return _leg_send(split_id, leg_id)
        if leg.status == L.FAILED and leg.next_attempt_at and leg.next_attempt_at <= timezone.now():
            if not _leg_rearm(split_id, leg_id):
                return "failed"
            continue
        return str(leg.status)  # in flight, done, or failed waiting for its time or an operator
    return "stepped"


def payout_external_id(base: str, n: int) -> str:
    return base if n == 0 else f"{base[: 100 - len(f'-r{n}')]}-r{n}"


def _leg_create_invoice(split_id: int, leg: PaymentLeg) -> str:
    """Create the payout invoice outside any transaction, then commit it if the leg is still planned."""
    committed = PaymentEvent.objects.filter(leg_id=leg.pk, event_type="leg_invoice_created").count()
    provider = get_wallet_provider()
    memo = "BlinkPOS tip" if leg.kind == LegKind.TIP else "BlinkPOS payment"
    invoice = None
    external_id = ""
    for n in range(committed, committed + MAX_EXTERNAL_ID_SUFFIXES):
        external_id = payout_external_id(leg.external_id, n)
        try:
            invoice = provider.create_invoice_for_recipient(
                recipient_wallet_id=leg.recipient_wallet_id,
                amount_sats=leg.amount,
                memo=memo,
                external_id=external_id,
                expires_in_minutes=PAYOUT_INVOICE_MINUTES,
            )
            break
        except DuplicateExternalId:
            # An earlier attempt created it and died before committing: never committed, never paid.
            log.warning("forwarding.payout_external_id_taken", leg_id=leg.pk, external_id=external_id)
        except WalletUnavailable:
            raise
        except WalletError as exc:
            _fail_leg_now(split_id, leg.pk, code=exc.code, message=exc.message, retryable=False)
            return "failed"
    if invoice is None:
        _fail_leg_now(split_id, leg.pk, code="DUPLICATE_EXTERNAL_ID", message="No free payout externalId.")
        return "failed"
    if invoice.amount_sats != leg.amount:
        _fail_leg_now(split_id, leg.pk, code="AMOUNT_MISMATCH", message=f"Invoice for {invoice.amount_sats} sats.")
        return "failed"
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        current = next(x for x in lock_legs(split) if x.pk == leg.pk)
        if current.status != L.PLANNED:
            log.info("forwarding.payout_invoice_orphaned", leg_id=leg.pk, payout_hash=invoice.payment_hash)
            return "raced"
        transition_leg(
            current,
            L.INVOICE_READY,
            event_type="leg_invoice_created",
            data={"payout_hash": invoice.payment_hash, "external_id": external_id, "amount": leg.amount},
            payment_request=invoice.payment_request,
            payment_hash=invoice.payment_hash,
            next_attempt_at=None,
        )
    log.info("forwarding.payout_invoice_committed", leg_id=leg.pk, payout_hash=invoice.payment_hash)
    return "created"


def _leg_send(split_id: int, leg_id: int) -> str:
    """Claim (invoice_ready -> sending, attempts+1, committed), pay outside any transaction, record."""
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        leg = next(x for x in lock_legs(split) if x.pk == leg_id)
        if leg.status != L.INVOICE_READY or split.status != S.PROCESSING:
            return "skipped"
        attempt = leg.attempts + 1
        transition_leg(
            leg, L.SENDING, event_type="leg_sent", data={"attempt": attempt}, attempts=attempt, sent_at=timezone.now()
        )
        payment_request = leg.payment_request
    log.info("forwarding.leg_sending", leg_id=leg_id, attempt=attempt, amount=leg.amount, payout_hash=leg.payment_hash)
    fault_point("before_send")
    try:
        result = get_wallet_provider().pay_invoice(payment_request=payment_request)
    except InvalidInput as exc:  # refused by our own validation before any request: nothing was sent
        result = SendResult(status=SendStatus.FAILED, error_code="INVALID_INPUT", message=exc.message)
    fault_point("after_send")
    return record_send(split_id=split_id, leg_id=leg_id, attempt=attempt, result=result)


def record_send(*, split_id: int, leg_id: int, attempt: int, result: SendResult) -> str:
    """Record a send's outcome for the attempt that made it. If the leg was taken over meanwhile (the
    reconciler judged the send abandoned), only a success is still applied; anything else is left
    to the lookup, which asks Blink instead of trusting a stale answer."""
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        legs = lock_legs(split)
        leg = next(x for x in legs if x.pk == leg_id)
        if leg.status != L.SENDING or leg.attempts != attempt:
            if result.status is SendStatus.SUCCEEDED and leg.status in (L.PENDING, L.UNKNOWN):
                leg_succeed_locked(split, legs, leg, result=result, source="late_answer")
                return "succeeded"
            log.warning("forwarding.send_superseded", leg_id=leg_id, attempt=attempt, status=leg.status)
            return "superseded"
        if result.status is SendStatus.SUCCEEDED:
            leg_succeed_locked(split, legs, leg, result=result, source="send")
        elif result.status is SendStatus.PENDING:
            transition_leg(leg, L.PENDING, event_type="leg_pending", data={"attempt": attempt})
        elif result.status is SendStatus.UNKNOWN:
            transition_leg(
                leg,
                L.UNKNOWN,
                event_type="leg_unknown",
                data={"attempt": attempt, "error_code": result.error_code},
                last_error_code=(result.error_code or "UNKNOWN")[:50],
                last_error=(result.message or "")[:500],
            )
        else:
            leg_fail_locked(leg, code=result.error_code or "FAILURE", message=result.message or "")
    log.info("forwarding.leg_recorded", leg_id=leg_id, attempt=attempt, outcome=result.status.value)
    return result.status.value.lower()


def leg_succeed_locked(
    split: PaymentSplit, legs: list[PaymentLeg], leg: PaymentLeg, *, result: SendResult | None, source: str
) -> None:
    """Mark a locked leg succeeded; tip legs also count in ``tip_recipient_stats`` (same transaction);
    completes the split when this was the last leg."""
    preimage = result.preimage if result else None
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
        },
        succeeded_at=now,
        fee_sats=result.fee_sats if result and result.fee_sats is not None else leg.fee_sats,
        preimage=preimage or leg.preimage,
        next_attempt_at=None,
        last_error_code="",
        last_error="",
    )
    if leg.kind == LegKind.TIP:
        record_event(
            split, "tip_sent", {"leg_id": leg.pk, "amount": leg.amount, "recipient": leg.recipient_username}, leg=leg
        )
        _stats_add(leg, now)
    complete_if_done_locked(split, legs)


def _stats_add(leg: PaymentLeg, when: datetime) -> None:
    # Lock order: split, legs, then this stats row (the stats job takes only the row lock).
    TipRecipientStats.objects.bulk_create(
        [TipRecipientStats(recipient_username=leg.recipient_username)], ignore_conflicts=True
    )
    row = TipRecipientStats.objects.select_for_update().get(recipient_username=leg.recipient_username)
    row.total_tips_received += leg.amount
    row.total_tips_count += 1
    row.average_tip_amount = (Decimal(row.total_tips_received) / row.total_tips_count).quantize(CENT)
    row.first_tip_received_at = min(row.first_tip_received_at or when, when)
    row.last_tip_received_at = max(row.last_tip_received_at or when, when)
    row.save()


def leg_fail_locked(leg: PaymentLeg, *, code: str, message: str, retryable: bool = True) -> None:
    """An explicit failure. Retried after a backoff while attempts remain and the error is one a retry
    can fix; otherwise ``next_attempt_at`` stays empty: an operator decides."""
    retry = retryable and code not in NOT_RETRYABLE and leg.attempts < max_attempts()
    next_at = timezone.now() + backoff(leg.attempts) if retry else None
    if code in LIMIT_RESTRICTED_CODES:
        # Blink's daily volume limit: nothing moved and the window rolls on, so the leg waits on its own
        # bounded schedule (payments/provider_limits.py), not the attempt count; None: an operator.
        next_at = limit_retry_at(leg=leg)
    transition_leg(
        leg,
        L.FAILED,
        event_type="leg_failed",
        data={"error_code": code, "attempt": leg.attempts, "retry_at": next_at.isoformat() if next_at else None},
        last_error_code=code[:50],
        last_error=message[:500],
        next_attempt_at=next_at,
    )
    log.warning("forwarding.leg_failed", leg_id=leg.pk, error_code=code, attempt=leg.attempts, retry=retry)


def _fail_leg_now(split_id: int, leg_id: int, *, code: str, message: str, retryable: bool = False) -> None:
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        leg = next(x for x in lock_legs(split) if x.pk == leg_id)
        if leg.status == L.PLANNED:
            leg_fail_locked(leg, code=code, message=message, retryable=retryable)


def payout_invoice_expired(leg: PaymentLeg) -> bool:
    """Whether the committed payout invoice can no longer be paid (judged from when we committed it,
    so no provider call is needed inside a transaction)."""
    if not leg.payment_hash:
        return True
    created = (
        PaymentEvent.objects.filter(leg_id=leg.pk, event_type="leg_invoice_created")
        .order_by("-timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )
    if created is None:
        return True
    return created + timedelta(minutes=PAYOUT_INVOICE_MINUTES) - PAYOUT_EXPIRY_MARGIN <= timezone.now()


def rearm_locked(leg: PaymentLeg, *, reason: str, actor: str = "") -> None:
    """failed -> invoice_ready (pay the SAME bolt11 again: ALREADY_PAID protects) or -> planned when
    that invoice expired (it can never be paid, so a new one cannot cause a second payment)."""
    target = L.PLANNED if payout_invoice_expired(leg) else L.INVOICE_READY
    data = {"reason": reason, "same_invoice": target == L.INVOICE_READY}
    if actor:
        data["actor"] = actor
    transition_leg(leg, target, event_type="leg_retry", data=data, next_attempt_at=None)


def _leg_rearm(split_id: int, leg_id: int) -> bool:
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        leg = next(x for x in lock_legs(split) if x.pk == leg_id)
        due = leg.next_attempt_at is not None and leg.next_attempt_at <= timezone.now()
        if leg.status != L.FAILED or not due or split.status != S.PROCESSING:
            return False
        rearm_locked(leg, reason="backoff_elapsed")
        return True


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


def _fail_split(split: PaymentSplit, reason: str) -> None:
    transition_split(split, S.FAILED, event_type="failed", data={"reason": reason}, error_message=reason[:1000])
    log.error("forwarding.split_failed", split_id=split.pk, payment_hash=split.payment_hash, reason=reason)


def settle_locked(split: PaymentSplit, legs: list[PaymentLeg]) -> str:
    """After a pass: complete, fail for an operator (a leg that will not be retried and nothing in
    flight), or note when the next retry is due."""
    if split.status != S.PROCESSING:
        return str(split.status)
    if complete_if_done_locked(split, legs):
        return "completed"
    stuck = [leg for leg in legs if leg.status == L.FAILED and leg.next_attempt_at is None]
    if stuck and not any(leg.status in IN_FLIGHT for leg in legs):
        reasons = "; ".join(f"leg {leg.pk} @{leg.recipient_username}: {leg.last_error_code}" for leg in stuck)
        _fail_split(split, f"Needs an operator: {reasons}")
        return "failed"
    due = [leg.next_attempt_at for leg in legs if leg.status == L.FAILED and leg.next_attempt_at]
    next_at = min(due) if due else None
    if split.next_attempt_at != next_at:
        split.next_attempt_at = next_at
        split.save(update_fields=["next_attempt_at"])
    return "in_progress"
