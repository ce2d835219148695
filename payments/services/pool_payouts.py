"""Paying a closed shift's pool shares: one payout per person, through the leg machinery's rules
(docs/ARCHITECTURE.md, money rules 2, 3, 5 and 8; Shifts and pooled tips).

1. Plan (``planned``, outside any transaction): the checked payout invoice through the person's route
   (``pool_payout_plan``).
2. Commit under the payout's row lock with one conditional change ``planned -> invoice_ready``.
3. Send: ``invoice_ready -> sending`` (attempts + 1, committed), ``pay_invoice`` of the committed bolt11
   outside any transaction, then the outcome recorded for that attempt. Every retry pays the SAME
   bolt11: Blink answers ALREADY_PAID rather than debiting twice.
4. Outcomes: SUCCEEDED -> ``succeeded`` (the shift is ``settled`` when all are); PENDING / UNKNOWN stay in
   flight and are looked up at Blink (``pool_payout_lookup``, from the sweep), never re-sent blindly;
   a FAILURE confirmed by the platform wallet's ledger (``payout_ledger.confirm_failure``) lets a new
   invoice be planned after a backoff, at most ``POOL_PAYOUT_MAX_FAILURES`` times; then ``failed``, for
   the merchant or an operator to re-open (``pool_payout_reopen``). The money stays on the platform
   wallet meanwhile; other people's payouts are independent rows and are not affected.

Which platform account pays: the merchant's current one (pooled tips of one merchant are received on
it). Nothing here logs a bolt11 or a preimage.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import Merchant, PoolPayout, PoolPayoutStatus, Shift, ShiftStatus
from payments.services.enqueue import publish_quietly
from payments.services.payout_ledger import confirm_failure
from payments.services.payout_outside import outside_invoice_state
from payments.services.payout_plan import PlanRefusal
from payments.services.pool_payout_plan import pool_payout_plan, pool_payout_provider
from payments.services.shifts import shift_event
from payments.wallet.errors import InvalidInput, InvoiceNotFound, WalletError, WalletUnavailable
from payments.wallet.types import InvoiceState, SendResult, SendStatus

log = get_logger(__name__)

P = PoolPayoutStatus
POOL_PAYOUT_TASK = "payments.tasks.refunds.pool_payout_task"
POOL_PAYOUT_MAX_FAILURES = 3
RETRY_AFTER = timedelta(seconds=30)


class PoolPayoutRefused(ApplicationError):
    code = "pool_payout_refused"
    http_status = 409


def enqueue_pool_payout(payout_id: int) -> bool:
    """Publish ``pool_payout_task(payout_id)``; a lost publish is found by the sweep."""
    return publish_quietly(POOL_PAYOUT_TASK, payout_id, failure_event="pool_payout.enqueue_failed", payout_id=payout_id)


def _lock(payout_id: int) -> PoolPayout | None:
    return PoolPayout.objects.select_for_update(of=("self",)).filter(pk=payout_id).first()


def pool_payout_run(*, payout_id: int) -> str:
    """The task's body: walk one payout as far as it goes now. Safe to run twice or concurrently."""
    for _ in range(4):
        payout = PoolPayout.objects.select_related("staff", "shift__merchant").filter(pk=payout_id).first()
        if payout is None:
            return "missing"
        if payout.next_attempt_at and payout.next_attempt_at > timezone.now():
            return "not_due"
        if payout.status == P.PLANNED:
            outcome = _plan_and_commit(payout)
            if outcome != "committed":
                return outcome
            continue
        if payout.status == P.INVOICE_READY:
            return _send(payout_id)
        return str(payout.status)
    return "stepped"


def _plan_and_commit(payout: PoolPayout) -> str:
    try:
        planned = pool_payout_plan(payout)
    except WalletUnavailable:
        raise  # the task retries: the provider is away, nothing was committed
    if isinstance(planned, PlanRefusal):
        return _refuse(payout.pk, planned)
    with transaction.atomic():
        locked = _lock(payout.pk)
        if locked is None or locked.status != P.PLANNED:
            return "skipped"  # another run committed first; this invoice is never paid (it expires)
        locked.status = P.INVOICE_READY
        locked.payment_request, locked.payment_hash = planned.payment_request, planned.payment_hash
        locked.route_kind, locked.route_address = planned.route_kind, planned.route_address[:255]
        locked.payout_amount, locked.fee_estimate_sats = planned.amount_sats, planned.fee_estimate
        locked.next_attempt_at = None
        locked.save()
        shift_event(
            locked.shift,
            "pool_payout_committed",
            {"payout_id": locked.pk, "payout_hash": planned.payment_hash, "amount_sats": planned.amount_sats},
            payout_id=locked.pk,
        )
    log.info("pool_payout.committed", payout_id=payout.pk, payout_hash=planned.payment_hash, route=planned.route_kind)
    return "committed"


def _refuse(payout_id: int, refusal: PlanRefusal) -> str:
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout is None or payout.status != P.PLANNED:
            return "skipped"
        payout.failures += 1
        payout.last_error_code, payout.last_error = refusal.code[:50], refusal.reason[:500]
        final = not refusal.retryable or payout.failures >= POOL_PAYOUT_MAX_FAILURES
        payout.status = P.FAILED if final else P.PLANNED
        payout.next_attempt_at = None if final else timezone.now() + RETRY_AFTER * payout.failures
        payout.save()
        shift_event(
            payout.shift,
            "pool_payout_failed" if final else "pool_payout_retry",
            {"payout_id": payout.pk, "error_code": refusal.code[:50], "failures": payout.failures},
            payout_id=payout.pk,
        )
    log.warning("pool_payout.plan_refused", payout_id=payout_id, code=refusal.code, final=final)
    return "failed" if final else "retry"


def _send(payout_id: int) -> str:
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout is None or payout.status != P.INVOICE_READY:
            return "skipped"
        payout.status, payout.attempts, payout.sent_at = P.SENDING, payout.attempts + 1, timezone.now()
        payout.save(update_fields=["status", "attempts", "sent_at", "updated_at"])
        shift_event(
            payout.shift,
            "pool_payout_sent",
            {"payout_id": payout.pk, "attempt": payout.attempts, "payout_hash": payout.payment_hash},
            payout_id=payout.pk,
        )
        attempt, request, payment_hash = payout.attempts, payout.payment_request, payout.payment_hash or ""
    log.info("pool_payout.sending", payout_id=payout_id, attempt=attempt, amount=payout.amount_sats)
    provider = pool_payout_provider(payout)
    try:
        result = provider.pay_invoice(payment_request=request)
    except InvalidInput as exc:  # refused by our own validation before any request: nothing was sent
        result = SendResult(status=SendStatus.FAILED, error_code=exc.code, message=exc.message)
    else:
        if result.status is SendStatus.FAILED:
            result = confirm_failure(payment_hash=payment_hash, result=result, provider=provider)
    return pool_payout_record(payout_id=payout_id, attempt=attempt, result=result)


def pool_payout_record(*, payout_id: int, attempt: int, result: SendResult, source: str = "send") -> str:
    """Record a send's outcome for the attempt that made it (a stale answer only ever applies a success)."""
    with transaction.atomic():
        payout = _lock(payout_id)
        assert payout is not None
        if payout.status != P.SENDING or payout.attempts != attempt:
            if result.status is SendStatus.SUCCEEDED and payout.status in (P.PENDING, P.UNKNOWN):
                _succeed_locked(payout, result, source="late_answer")
                return "succeeded"
            return "superseded"
        _apply_locked(payout, result, source=source)
    log.info("pool_payout.recorded", payout_id=payout_id, attempt=attempt, outcome=result.status.value)
    return result.status.value.lower()


def _apply_locked(payout: PoolPayout, result: SendResult, *, source: str) -> None:
    if result.status is SendStatus.SUCCEEDED:
        _succeed_locked(payout, result, source=source)
    elif result.status in (SendStatus.PENDING, SendStatus.UNKNOWN):
        payout.status = P.PENDING if result.status is SendStatus.PENDING else P.UNKNOWN
        payout.last_error_code = (result.error_code or "")[:50]
        payout.next_attempt_at = timezone.now() + RETRY_AFTER
        payout.save(update_fields=["status", "last_error_code", "next_attempt_at", "updated_at"])
        shift_event(
            payout.shift,
            f"pool_payout_{payout.status}",
            {"payout_id": payout.pk, "source": source, "error_code": result.error_code},
            payout_id=payout.pk,
        )
    else:
        _fail_locked(payout, code=result.error_code or "FAILURE", message=result.message or "")


def _succeed_locked(payout: PoolPayout, result: SendResult, *, source: str) -> None:
    payout.status, payout.succeeded_at, payout.next_attempt_at = P.SUCCEEDED, timezone.now(), None
    payout.fee_sats, payout.preimage = result.fee_sats, result.preimage or ""
    payout.save()
    shift_event(
        payout.shift,
        "pool_payout_succeeded",
        {"payout_id": payout.pk, "source": source, "amount_sats": payout.amount_sats, "fee_sats": result.fee_sats},
        payout_id=payout.pk,
    )
    _settle_if_done_locked(payout.shift_id)


def _settle_if_done_locked(shift_id: int) -> None:
    shift = Shift.objects.select_for_update(of=("self",)).get(pk=shift_id)
    if shift.status != ShiftStatus.CLOSED or shift.payouts.exclude(status=P.SUCCEEDED).exists():
        return
    shift.status, shift.settled_at = ShiftStatus.SETTLED, timezone.now()
    shift.save(update_fields=["status", "settled_at", "updated_at"])
    shift_event(shift, "shift_settled", {"payouts": shift.payouts.count()})


def _fail_locked(payout: PoolPayout, *, code: str, message: str) -> None:
    """A failure Blink's ledger confirmed (no debit stands): plan a new invoice later, or hand over."""
    payout.failures += 1
    final = payout.failures >= POOL_PAYOUT_MAX_FAILURES
    payout.status = P.FAILED if final else P.PLANNED
    payout.payment_request, payout.payment_hash = "", None
    payout.last_error_code, payout.last_error = code[:50], message[:500]
    payout.next_attempt_at = None if final else timezone.now() + RETRY_AFTER * payout.failures
    payout.save()
    shift_event(
        payout.shift,
        "pool_payout_failed" if final else "pool_payout_retry",
        {"payout_id": payout.pk, "error_code": code[:50], "failures": payout.failures},
        payout_id=payout.pk,
    )
    log.warning("pool_payout.failed", payout_id=payout.pk, code=code, failures=payout.failures, final=final)


def pool_payout_lookup(*, payout_id: int) -> str:
    """Settle an in-flight payout (pending, unknown, or a send whose worker died) by asking Blink about
    its hash: a send found decides; no send and the invoice expired -> failed (nothing was debited); no
    send and the invoice still payable -> the SAME bolt11 is sent again; the invoice paid by someone
    else -> left ``unknown`` for an operator."""
    payout = PoolPayout.objects.filter(pk=payout_id).first()
    if payout is None or payout.status not in (P.PENDING, P.UNKNOWN, P.SENDING):
        return "skipped"
    seen = (payout.status, payout.attempts)
    provider = pool_payout_provider(payout)
    state: InvoiceState | None = None
    try:
        lookup = provider.payment_lookup(payment_hash=payout.payment_hash or "")
        if lookup.status is SendStatus.UNKNOWN:
            try:
                state = provider.invoice_status(payment_hash=payout.payment_hash or "").state
            except InvoiceNotFound:  # not a Blink invoice: its own expiry decides
                state = outside_invoice_state(payout.payment_request)
    except WalletError as exc:
        PoolPayout.objects.filter(pk=payout_id).update(next_attempt_at=timezone.now() + RETRY_AFTER)
        log.warning("pool_payout.lookup_failed", payout_id=payout_id, code=exc.code)
        return "lookup_failed"
    with transaction.atomic():
        payout = _lock(payout_id)
        assert payout is not None
        if (payout.status, payout.attempts) != seen:
            return "changed"
        if lookup.status is SendStatus.SUCCEEDED:
            done = SendResult(status=SendStatus.SUCCEEDED, fee_sats=lookup.fee_sats, preimage=lookup.preimage)
            _succeed_locked(payout, done, source="lookup")
            return "succeeded"
        if lookup.status is SendStatus.FAILED:
            _fail_locked(payout, code="PAYMENT_FAILED", message="Blink reports the send failed.")
            return "failed"
        if lookup.status is SendStatus.PENDING:
            _apply_locked(payout, SendResult(status=SendStatus.PENDING), source="lookup")
            return "pending"
        if state is InvoiceState.EXPIRED:
            _fail_locked(payout, code="NOT_SENT_EXPIRED", message="The invoice expired with no send of ours.")
            return "failed"
        if state is InvoiceState.PAID:
            log.error("pool_payout.paid_not_by_us", payout_id=payout_id)
            _apply_locked(payout, SendResult(status=SendStatus.UNKNOWN, error_code="PAID_NOT_BY_US"), source="lookup")
            return "paid_not_by_us"
        if payout.attempts >= settings.FORWARD_MAX_ATTEMPTS:
            _fail_locked(payout, code="NOT_SENT", message="No send reached Blink after the last attempt.")
            return "failed"
        # No send of ours and the invoice still payable: the SAME bolt11 again (ALREADY_PAID protects it).
        payout.status, payout.next_attempt_at = P.INVOICE_READY, None
        payout.save(update_fields=["status", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: enqueue_pool_payout(payout_id))
    return "resend"


def pool_payout_reopen(*, merchant: Merchant | None, payout_id: object, by: str) -> PoolPayout:
    """Re-open a ``failed`` payout (the merchant from the dashboard, an operator from the admin): a
    fresh failure count and a new plan. ``merchant`` None: an operator (any merchant's payout)."""
    if not isinstance(payout_id, int) or isinstance(payout_id, bool):
        raise PoolPayoutRefused("Unknown payout.", code="not_found", http_status=404)
    with transaction.atomic():
        payout = _lock(payout_id)
        if payout is None or (merchant is not None and payout.shift.merchant_id != merchant.pk):
            raise PoolPayoutRefused("Unknown payout.", code="not_found", http_status=404)
        if payout.status != P.FAILED:
            raise PoolPayoutRefused(f"A {payout.status} payout cannot be re-opened.", code="not_reopenable")
        payout.status, payout.failures, payout.next_attempt_at = P.PLANNED, 0, None
        payout.save(update_fields=["status", "failures", "next_attempt_at", "updated_at"])
        shift_event(payout.shift, "pool_payout_reopened", {"payout_id": payout.pk, "by": by[:100]}, payout_id=payout.pk)
        transaction.on_commit(lambda: enqueue_pool_payout(payout.pk))
    return payout
