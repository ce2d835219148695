"""Paying a funded refund to the customer, through the leg machinery's rules (docs/ARCHITECTURE.md,
money rules 2, 3, 5 and 8).

1. Commit: the customer's invoice (from their wallet's LNURL-withdraw callback, pasted on the refund
   page, or asked from their Lightning address) is checked (exact amount, mainnet, enough life, a
   payment hash never seen), then committed under the refund's lock with a conditional status change
   ``funded -> paying``: a second claim, concurrent or later, finds the refund ``paying`` and is refused.
2. Send: ``invoice_ready -> sending`` (attempts + 1, committed), then ``pay_invoice`` of that committed
   bolt11 outside any transaction, then the outcome recorded. Every attempt pays the SAME bolt11, so
   Blink answers ALREADY_PAID instead of debiting twice.
3. Outcomes: SUCCEEDED -> ``paid`` (and the staff's tip adjustments when the tip was refunded);
   PENDING / UNKNOWN stay in flight until a lookup at Blink settles them (``refund_payout_lookup``,
   from the sweep); an explicit FAILURE is confirmed against the platform wallet's ledger first
   (``payout_ledger.confirm_failure``). A confirmed failure re-opens the claim (the customer may give a
   new invoice), at most ``REFUND_MAX_PAYOUT_FAILURES`` times; then the refund is ``failed`` for an
   operator (the money is still on the platform wallet).
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.lnurl.address import InvalidAddress, parse_address
from payments.lnurl.client import LnurlError, fetch_pay_params
from payments.lnurl.invoice_check import CheckedInvoice, InvoiceRefusal
from payments.lnurl.withdraw import check_claim_invoice
from payments.models import PaymentSplit, PayoutState, PayoutVia, Refund, RefundStatus
from payments.platform_accounts import provider_for, split_account_id
from payments.services.enqueue import publish_quietly
from payments.services.payout_invoices import payment_hash_seen, payout_invoice_request
from payments.services.payout_ledger import confirm_failure
from payments.services.payout_outside import outside_invoice_state
from payments.services.payout_routes import lnurl_policy
from payments.services.refund_transitions import lock_refund, refund_event, transition_refund
from payments.services.tip_adjustments import tip_adjustments_record_locked
from payments.wallet.errors import InvalidInput, InvoiceNotFound, WalletError
from payments.wallet.types import InvoiceState, SendResult, SendStatus

log = get_logger(__name__)

R, P = RefundStatus, PayoutState
REFUND_PAY_TASK = "payments.tasks.refunds.refund_pay_task"
PENDING_RECHECK = timedelta(seconds=30)


class ClaimRefused(ApplicationError):
    """The claim cannot be paid as asked; nothing was committed."""

    code = "claim_refused"
    http_status = 400


def payout_open(refund: Refund) -> bool:
    """Whether a payout may be committed: funded and nothing committed."""
    return refund.status == R.FUNDED and refund.payout_state == P.NONE


def claim_open(refund: Refund) -> bool:
    """Whether the customer's LNURL-withdraw claim is open: a payout may be committed and the claim has
    not expired. Past its expiry the merchant can still pay the customer's invoice or address."""
    return payout_open(refund) and (refund.claim_expires_at is None or refund.claim_expires_at > timezone.now())


def _refund_or_404(refund_id: int) -> Refund:
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None:
        raise ClaimRefused("No such refund.", code="not_found", http_status=404)
    return refund


def _require_open(refund: Refund, via: str) -> None:
    if refund.status in (R.PAYING, R.PAID):
        raise ClaimRefused("This refund was already claimed.", code="already_claimed", http_status=409)
    if not (claim_open(refund) if via == PayoutVia.LNURL_WITHDRAW else payout_open(refund)):
        raise ClaimRefused(
            f"This refund cannot be claimed now ({refund.status}).", code="not_claimable", http_status=409
        )


def refund_claim_withdraw(*, claim_token: str, k1: str, payment_request: str) -> Refund:
    """LNURL-withdraw callback: the customer's wallet sends ``k1`` and its invoice (``pr``)."""
    refund = Refund.objects.filter(claim_token=claim_token).first()
    if refund is None or not hmac.compare_digest(refund.claim_k1, k1 or ""):
        raise ClaimRefused("Unknown or used claim.", code="not_found", http_status=404)
    return refund_payout_commit(
        refund_id=refund.pk, payment_request=payment_request, via=PayoutVia.LNURL_WITHDRAW, field="pr"
    )


def refund_payout_commit(*, refund_id: int, payment_request: str, via: str, field: str = "payment_request") -> Refund:
    """Check the customer's invoice and commit it (``funded -> paying``); the send is enqueued after
    commit. Raises ``ClaimRefused`` naming ``field`` for a bad invoice, 409 when already claimed."""
    refund = _refund_or_404(refund_id)
    _require_open(refund, via)
    if not isinstance(payment_request, str) or not payment_request.strip():
        raise ClaimRefused(
            "Give a Lightning invoice.", code="invalid_input", fields={field: ["Give a Lightning invoice."]}
        )
    checked = check_claim_invoice(
        payment_request,
        amount_msat=refund.amount_sats * 1000,
        hash_seen=payment_hash_seen,
        min_remaining_seconds=settings.PAYOUT_INVOICE_MIN_REMAINING_SECONDS,
    )
    if isinstance(checked, InvoiceRefusal):
        raise ClaimRefused(
            f"Invoice refused: {checked.reason}.", code="invalid_input", fields={field: [checked.reason]}
        )
    return _commit(refund_id, checked, via)


def refund_payout_to_address(*, refund_id: int, address: str) -> Refund:
    """Ask the customer's Lightning address (LNURL-pay, through the SSRF-safe client) for an invoice of
    exactly the refund's amount, check it (``payout_invoices``) and commit it."""
    refund = _refund_or_404(refund_id)
    _require_open(refund, PayoutVia.ADDRESS)
    try:
        parsed = parse_address(address.strip() if isinstance(address, str) else address)
        params = fetch_pay_params(parsed, policy=lnurl_policy())
    except InvalidAddress as exc:
        raise ClaimRefused(str(exc), code="invalid_input", fields={"address": [str(exc)]}) from exc
    except LnurlError as exc:
        raise ClaimRefused(exc.reason, code="invalid_input", fields={"address": [exc.reason]}) from exc
    checked = payout_invoice_request(params=params, amount_sats=refund.amount_sats)
    if isinstance(checked, InvoiceRefusal):
        raise ClaimRefused(checked.reason, code="invalid_input", fields={"address": [checked.reason]})
    return _commit(refund_id, checked, PayoutVia.ADDRESS)


def _commit(refund_id: int, checked: CheckedInvoice, via: str) -> Refund:
    try:
        with transaction.atomic():
            locked = lock_refund(refund_id=refund_id)
            assert locked is not None
            split, refund = locked
            _require_open(refund, via)
            transition_refund(
                split,
                refund,
                R.PAYING,
                event_type="refund_payout_committed",
                data={"payout_hash": checked.payment_hash, "via": via},
                payout_via=via,
                payout_state=P.INVOICE_READY,
                payout_request=checked.payment_request,
                payout_hash=checked.payment_hash,
                next_attempt_at=None,
            )
            transaction.on_commit(lambda: enqueue_refund_pay(refund_id))
    except IntegrityError as exc:  # the same hash committed elsewhere meanwhile (unique payout_hash)
        raise ClaimRefused(
            "This invoice was already used.", code="invalid_input", fields={"payment_request": ["already used"]}
        ) from exc
    log.info("refund.payout_committed", refund_id=refund_id, payout_hash=checked.payment_hash, via=via)
    return refund


def enqueue_refund_pay(refund_id: int) -> bool:
    """Publish ``refund_pay_task(refund_id)``; a lost publish is found by the sweep."""
    return publish_quietly(REFUND_PAY_TASK, refund_id, failure_event="refund.enqueue_failed", refund_id=refund_id)


def refund_pay(*, refund_id: int) -> str:
    """Send the committed payout (claim by status, pay outside any transaction, record). Idempotent and
    safe concurrently with itself: only one caller moves the payout out of ``invoice_ready``."""
    with transaction.atomic():
        locked = lock_refund(refund_id=refund_id)
        if locked is None:
            return "missing"
        split, refund = locked
        if refund.status != R.PAYING or refund.payout_state != P.INVOICE_READY:
            return "skipped"
        attempt = refund.payout_attempts + 1
        refund.payout_state, refund.payout_attempts = P.SENDING, attempt
        refund.save(update_fields=["payout_state", "payout_attempts", "updated_at"])
        refund_event(split, refund, "refund_sent", {"attempt": attempt, "payout_hash": refund.payout_hash})
        payment_request, payment_hash = refund.payout_request, refund.payout_hash or ""
    log.info(
        "refund.sending", refund_id=refund_id, attempt=attempt, amount=refund.amount_sats, payout_hash=payment_hash
    )
    provider = provider_for(account_id=split.platform_account_id)  # the refunded sale's account
    try:
        result = provider.pay_invoice(payment_request=payment_request)
    except InvalidInput as exc:  # refused by our own validation before any request: nothing was sent
        result = SendResult(status=SendStatus.FAILED, error_code=exc.code, message=exc.message)
    else:
        if result.status is SendStatus.FAILED:
            result = confirm_failure(payment_hash=payment_hash, result=result, provider=provider)
    return refund_send_record(refund_id=refund_id, attempt=attempt, result=result)


def refund_send_record(*, refund_id: int, attempt: int, result: SendResult, source: str = "send") -> str:
    """Record a send's outcome for the attempt that made it (a stale answer only ever applies a success)."""
    with transaction.atomic():
        locked = lock_refund(refund_id=refund_id)
        assert locked is not None
        split, refund = locked
        if refund.status != R.PAYING or refund.payout_state != P.SENDING or refund.payout_attempts != attempt:
            if result.status is SendStatus.SUCCEEDED and refund.payout_state in (P.PENDING, P.UNKNOWN):
                _succeed_locked(split, refund, result, source="late_answer")
                return "succeeded"
            return "superseded"
        _apply_locked(split, refund, result, source=source)
    log.info("refund.send_recorded", refund_id=refund_id, attempt=attempt, outcome=result.status.value)
    return result.status.value.lower()


def _apply_locked(split: PaymentSplit, refund: Refund, result: SendResult, *, source: str) -> None:
    if result.status is SendStatus.SUCCEEDED:
        _succeed_locked(split, refund, result, source=source)
    elif result.status in (SendStatus.PENDING, SendStatus.UNKNOWN):
        state = P.PENDING if result.status is SendStatus.PENDING else P.UNKNOWN
        refund.payout_state = state
        refund.last_error_code = (result.error_code or "")[:50]
        refund.next_attempt_at = timezone.now() + PENDING_RECHECK
        refund.save(update_fields=["payout_state", "last_error_code", "next_attempt_at", "updated_at"])
        refund_event(split, refund, f"refund_{state}", {"source": source, "error_code": result.error_code})
    else:
        _fail_locked(split, refund, code=result.error_code or "FAILURE", message=result.message or "")


def _succeed_locked(split: PaymentSplit, refund: Refund, result: SendResult, *, source: str) -> None:
    transition_refund(
        split,
        refund,
        R.PAID,
        event_type="refund_paid",
        data={"source": source, "fee_sats": result.fee_sats, "payout_hash": refund.payout_hash},
        payout_state=P.SUCCEEDED,
        payout_fee_sats=result.fee_sats,
        payout_preimage=result.preimage or "",
        paid_at=timezone.now(),
        next_attempt_at=None,
    )
    tip_adjustments_record_locked(split=split, refund=refund)


def _fail_locked(split: PaymentSplit, refund: Refund, *, code: str, message: str) -> None:
    """A failure Blink's ledger confirmed (no debit stands): re-open the claim, or hand to an operator."""
    failures = refund.payout_failures + 1
    target = R.FAILED if failures >= settings.REFUND_MAX_PAYOUT_FAILURES else R.FUNDED
    transition_refund(
        split,
        refund,
        target,
        event_type="refund_payout_failed" if target == R.FUNDED else "refund_failed",
        data={"payout_hash": refund.payout_hash, "error_code": code, "failures": failures},
        payout_state=P.NONE,
        payout_request="",
        payout_hash=None,
        payout_via=PayoutVia.NONE,
        payout_failures=failures,
        last_error_code=code[:50],
        last_error=message[:500],
        next_attempt_at=None,
    )
    log.warning("refund.payout_failed", refund_id=refund.pk, code=code, failures=failures, status=target)


def refund_payout_lookup(*, refund_id: int) -> str:
    """Settle an in-flight payout (pending, unknown, or a send whose worker died) by asking Blink about
    its hash: a send found decides; no send and the invoice expired -> failed (nothing was debited); no
    send and the invoice still payable -> the SAME bolt11 is sent again (ALREADY_PAID protects it); the
    invoice paid by someone else -> left ``unknown`` for an operator."""
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None or refund.status != R.PAYING or refund.payout_state not in (P.PENDING, P.UNKNOWN, P.SENDING):
        return "skipped"
    seen = (refund.payout_state, refund.payout_attempts)
    provider = provider_for(account_id=split_account_id(split_id=refund.split_id))
    state: InvoiceState | None = None
    try:
        lookup = provider.payment_lookup(payment_hash=refund.payout_hash or "")
        if lookup.status is SendStatus.UNKNOWN:
            try:
                state = provider.invoice_status(payment_hash=refund.payout_hash or "").state
            except InvoiceNotFound:  # not a Blink invoice: its own expiry decides
                state = outside_invoice_state(refund.payout_request)
    except WalletError as exc:
        Refund.objects.filter(pk=refund_id).update(next_attempt_at=timezone.now() + PENDING_RECHECK)
        log.warning("refund.lookup_failed", refund_id=refund_id, code=exc.code)
        return "lookup_failed"
    with transaction.atomic():
        locked = lock_refund(refund_id=refund_id)
        assert locked is not None
        split, refund = locked
        if (refund.payout_state, refund.payout_attempts) != seen or refund.status != R.PAYING:
            return "changed"
        if lookup.status is SendStatus.SUCCEEDED:
            _succeed_locked(
                split,
                refund,
                SendResult(status=SendStatus.SUCCEEDED, fee_sats=lookup.fee_sats, preimage=lookup.preimage),
                source="lookup",
            )
            return "succeeded"
        if lookup.status is SendStatus.FAILED:
            _fail_locked(split, refund, code="PAYMENT_FAILED", message="Blink reports the send failed.")
            return "failed"
        if lookup.status is SendStatus.PENDING:
            _apply_locked(split, refund, SendResult(status=SendStatus.PENDING), source="lookup")
            return "pending"
        if state is InvoiceState.EXPIRED:
            _fail_locked(split, refund, code="NOT_SENT_EXPIRED", message="The invoice expired with no send of ours.")
            return "failed"
        if state is InvoiceState.PAID:
            log.error("refund.paid_not_by_us", refund_id=refund_id, payout_hash=refund.payout_hash)
            _apply_locked(
                split, refund, SendResult(status=SendStatus.UNKNOWN, error_code="PAID_NOT_BY_US"), source="lookup"
            )
            return "paid_not_by_us"
        if refund.payout_attempts >= settings.FORWARD_MAX_ATTEMPTS:
            _fail_locked(split, refund, code="NOT_SENT", message="No send reached Blink after the last attempt.")
            return "failed"
        refund.payout_state = P.INVOICE_READY
        refund.save(update_fields=["payout_state", "updated_at"])
        refund_event(split, refund, "refund_pending", {"source": "lookup", "resend": True})
        transaction.on_commit(lambda: enqueue_refund_pay(refund_id))
    return "resend"


def refund_reopen(*, refund_id: int, by: str) -> Refund:
    """An operator's retry of a ``failed`` refund (its money is still on the platform wallet): the claim
    re-opens for a new invoice, with a fresh failure count and claim expiry."""
    with transaction.atomic():
        locked = lock_refund(refund_id=refund_id)
        if locked is None:
            raise ClaimRefused("No such refund.", code="not_found", http_status=404)
        split, refund = locked
        if refund.status != R.FAILED:
            raise ClaimRefused(f"A {refund.status} refund cannot be re-opened.", code="not_reopenable", http_status=409)
        transition_refund(
            split,
            refund,
            R.FUNDED,
            event_type="refund_funded",
            data={"reopened_by": by[:100]},
            payout_failures=0,
            claim_expires_at=timezone.now() + timedelta(hours=settings.REFUND_CLAIM_HOURS),
        )
    return refund
