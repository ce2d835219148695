"""Refunds of completed sales: creation, funding, expiry, cancellation (docs/ARCHITECTURE.md, Refunds).

A refund is merchant-funded. ``refund_create`` checks the request against what is left of the sale,
creates a funding invoice for the refund's amount on the platform wallet (outside any transaction),
then writes the refund row and its ``refund_created`` event under the sale's lock; the database's
``refunds_within_paid`` trigger refuses a refund over the ceiling whatever raced it (the orphan
funding invoice is then cancelled at Blink: it was never shown to anyone). The merchant pays the
funding invoice from their own wallet; the payment is detected like a sale's (the webhook's
``detection.detect`` calls ``refund_funding_received_locked``, the sweep polls Blink), the refund
becomes ``funded`` and the customer can claim it (``refund_payouts``). An unpaid funding invoice
expires with nothing paid: only Blink's EXPIRED answer expires a refund.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.domain.refund_amounts import RefundAmountError, Remaining, refund_parts, remaining
from payments.models import Merchant, PaymentSplit, Refund, RefundStatus, SplitStatus, Terminal
from payments.models.refunds import ACTIVE_STATUSES, REASON_MAX_CHARS
from payments.platform_accounts import provider_for, split_account_id
from payments.services import webhook_outbox
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.services.refund_transitions import lock_refund, refund_event, transition_refund
from payments.services.transitions import lock_split
from payments.wallet.errors import WalletError, WalletUnavailable
from payments.wallet.provider import WalletProvider
from payments.wallet.types import InvoiceState

log = get_logger(__name__)

R = RefundStatus
CEILING_CONSTRAINTS = ("refunds_within_paid", "refunds_tip_within_tip")


class RefundRefused(ApplicationError):
    """A refund request that cannot be done as asked (``fields`` names the input when it is one)."""

    code = "refund_refused"
    http_status = 400


def _invalid(field: str, message: str) -> RefundRefused:
    return RefundRefused(message, code="invalid_input", fields={field: [message]})


@dataclass(frozen=True, kw_only=True)
class RefundRequest:
    amount_sats: int | None  # None: everything still refundable
    tip_refunded: bool
    reason: str


def refundable(split: PaymentSplit) -> Remaining:
    """What is left to refund of ``split`` (base and tip), counting every refund not expired/cancelled."""
    done = Refund.objects.filter(split=split, status__in=ACTIVE_STATUSES).aggregate(
        base=Sum("base_part_sats"), tip=Sum("tip_part_sats")
    )
    return remaining(
        paid=_paid(split), tip_amount=split.tip_amount, refunded_base=done["base"] or 0, refunded_tip=done["tip"] or 0
    )


def _paid(split: PaymentSplit) -> int:
    return split.received_amount if split.received_amount is not None else split.total_amount


def _validated(split: PaymentSplit, request: RefundRequest) -> tuple[int, int, int]:
    """(amount, base part, tip part) or a 4xx naming the field. Nothing is written."""
    reason = request.reason.strip()
    if not reason:
        raise _invalid("reason", "Give a reason for the refund.")
    if len(reason) > REASON_MAX_CHARS:
        raise _invalid("reason", f"The reason is at most {REASON_MAX_CHARS} characters.")
    if split.status != SplitStatus.COMPLETED:
        raise RefundRefused(
            f"Only a completed sale can be refunded (this one is {split.status}).",
            code="not_refundable",
            http_status=409,
        )
    left = refundable(split)
    amount = request.amount_sats
    if amount is None:
        amount = left.total if request.tip_refunded else left.base
        if amount <= 0:
            raise _invalid("amount_sats", "Nothing is left to refund on this sale.")
    try:
        parts = refund_parts(
            amount=amount, tip_refunded=request.tip_refunded, left=left, paid=_paid(split), tip_amount=split.tip_amount
        )
    except RefundAmountError as exc:
        raise _invalid("amount_sats", f"{str(exc).capitalize()}.") from exc
    return amount, parts.base, parts.tip


def refund_create(
    *,
    merchant: Merchant,
    payment_hash: str,
    request: RefundRequest,
    requested_by: str,
    terminal: Terminal | None = None,
) -> Refund:
    """Create a refund of the merchant's completed sale and its funding invoice.

    Calls the wallet provider (outside any transaction). Raises ``RefundRefused`` (4xx, nothing
    written), ``ProviderUnavailable`` / ``ProviderError`` (nothing written).
    """
    split = PaymentSplit.objects.filter(payment_hash=payment_hash.lower(), merchant=merchant).first()
    if split is None:
        raise RefundRefused("No such sale.", code="not_found", http_status=404)
    amount, _, _ = _validated(split, request)
    external_id = f"refund-{uuid.uuid4().hex}"
    memo = f"Refund for sale {split.payment_hash[:12]} ({merchant.name})"[:639]
    expiry_minutes = settings.REFUND_FUNDING_EXPIRY_MINUTES
    # The sale's own platform account (docs/ARCHITECTURE.md, Platform accounts): its funding, cancel and
    # status calls all go there, whichever account the merchant sells on now.
    provider = provider_for(account_id=split.platform_account_id)
    try:
        invoice = provider.create_invoice(
            amount_sats=amount, memo=memo, expires_in_minutes=expiry_minutes, external_id=external_id
        )
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except WalletError as exc:
        log.error("refund.funding_invoice_refused", split_id=split.pk, code=exc.code)
        raise ProviderError(
            provider_code=exc.code, message="The wallet provider could not create the invoice."
        ) from exc
    if invoice.amount_sats != amount:
        raise ProviderError(provider_code="AMOUNT_MISMATCH", message="The wallet provider invoiced a different amount.")
    try:
        refund = _insert(
            split.pk,
            request,
            requested_by,
            terminal,
            invoice_fields={
                "funding_payment_hash": invoice.payment_hash.lower(),
                "funding_payment_request": invoice.payment_request,
                "funding_external_id": external_id,
                "funding_expires_at": invoice.expires_at or timezone.now() + timedelta(minutes=expiry_minutes),
            },
            amount=amount,
        )
    except (RefundRefused, IntegrityError):
        _cancel_quietly(provider, invoice.payment_hash)
        raise
    log.info("refund.created", refund_id=refund.pk, split_id=split.pk, amount=amount, tip_part=refund.tip_part_sats)
    return refund


def _insert(
    split_id: int,
    request: RefundRequest,
    requested_by: str,
    terminal: Terminal | None,
    *,
    invoice_fields: dict[str, object],
    amount: int,
) -> Refund:
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        # Checked again under the lock: another refund may have been created meanwhile.
        amount, base, tip = _validated(
            split, RefundRequest(amount_sats=amount, tip_refunded=request.tip_refunded, reason=request.reason)
        )
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    split=split,
                    merchant_id=split.merchant_id,
                    terminal=terminal,
                    requested_by=requested_by[:100],
                    amount_sats=amount,
                    tip_refunded=request.tip_refunded,
                    tip_part_sats=tip,
                    base_part_sats=base,
                    reason=request.reason.strip(),
                    claim_token=secrets.token_urlsafe(32),
                    claim_k1=secrets.token_hex(32),
                    **invoice_fields,
                )
        except IntegrityError as exc:
            if any(name in str(exc) for name in CEILING_CONSTRAINTS):
                raise _invalid("amount_sats", "More than what is left of the sale would be refunded.") from exc
            raise
        refund_event(
            split,
            refund,
            "refund_created",
            {
                "amount_sats": amount,
                "base_part_sats": base,
                "tip_part_sats": tip,
                "tip_refunded": request.tip_refunded,
                "requested_by": refund.requested_by,
                "funding_hash": refund.funding_payment_hash,
            },
            to_status=R.AWAITING_FUNDING,
        )
        webhook_outbox.refund_changed(refund)  # refund.created, stored in this transaction
    return refund


def _cancel_quietly(provider: WalletProvider, payment_hash: str) -> None:
    try:
        provider.cancel_invoice(payment_hash=payment_hash)
    except WalletError as exc:  # it expires by itself; nobody was ever shown it
        log.warning("refund.orphan_invoice_not_cancelled", funding_hash=payment_hash, code=exc.code)


def refund_cancel(*, merchant: Merchant, refund_id: int, by: str) -> Refund:
    """Withdraw a refund whose funding invoice is unpaid: Blink cancels the invoice first (outside any
    transaction), so it can no longer be paid; then the refund is ``cancelled``."""
    refund = Refund.objects.filter(pk=refund_id, merchant=merchant).first()
    if refund is None:
        raise RefundRefused("No such refund.", code="not_found", http_status=404)
    if refund.status != R.AWAITING_FUNDING:
        raise RefundRefused(f"A {refund.status} refund cannot be cancelled.", code="not_cancellable", http_status=409)
    try:
        cancelled = _refund_provider(refund).cancel_invoice(payment_hash=refund.funding_payment_hash)
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except WalletError as exc:
        raise ProviderError(
            provider_code=exc.code, message="The wallet provider could not cancel the invoice."
        ) from exc
    if not cancelled:
        refund_funding_check(refund_id=refund.pk)
        raise RefundRefused(
            "The funding invoice was already paid or cancelled.", code="not_cancellable", http_status=409
        )
    with transaction.atomic():
        locked = lock_refund(refund_id=refund.pk)
        assert locked is not None
        split, refund = locked
        if refund.status != R.AWAITING_FUNDING:
            raise RefundRefused(
                f"A {refund.status} refund cannot be cancelled.", code="not_cancellable", http_status=409
            )
        transition_refund(split, refund, R.CANCELLED, event_type="refund_cancelled", data={"by": by[:100]})
    return refund


def refund_funding_received_locked(*, payment_hash: str, amount_sats: int | None, source: str) -> str | None:
    """The platform wallet received the payment of a refund's funding invoice (called by detection in
    its transaction). Returns the outcome, or None when ``payment_hash`` is no refund's."""
    refund_id = Refund.objects.filter(funding_payment_hash=payment_hash).values_list("pk", flat=True).first()
    if refund_id is None:
        return None
    locked = lock_refund(refund_id=refund_id)
    assert locked is not None
    split, refund = locked
    if refund.status != R.AWAITING_FUNDING:
        if refund.status in (R.EXPIRED, R.CANCELLED):
            # Blink settled an invoice we had given up on: the money is here and shown to an operator.
            log.error("refund.funding_after_close", refund_id=refund.pk, status=refund.status, amount=amount_sats)
            return "refund_funding_late"
        return "refund_already_funded"
    if amount_sats is not None and amount_sats != refund.amount_sats:
        log.error(
            "refund.funding_amount_mismatch", refund_id=refund.pk, received=amount_sats, amount=refund.amount_sats
        )
    now = timezone.now()
    transition_refund(
        split,
        refund,
        R.FUNDED,
        event_type="refund_funded",
        data={"source": source, "amount_sats": amount_sats},
        funded_at=now,
        claim_expires_at=now + timedelta(hours=settings.REFUND_CLAIM_HOURS),
    )
    log.info("refund.funded", refund_id=refund.pk, source=source)
    return "refund_funded"


def refund_funding_check(*, refund_id: int) -> str:
    """Ask Blink about an awaiting refund's funding invoice: PAID funds it, EXPIRED expires it (nothing
    was paid: Blink can no longer settle it), PENDING leaves it. Never inside a transaction."""
    refund = Refund.objects.filter(pk=refund_id).first()
    if refund is None or refund.status != R.AWAITING_FUNDING:
        return "skipped"
    try:
        status = _refund_provider(refund).invoice_status(payment_hash=refund.funding_payment_hash)
    except WalletError as exc:
        log.warning("refund.funding_check_failed", refund_id=refund_id, code=exc.code)
        return "lookup_failed"
    if status.state is InvoiceState.PAID:
        with transaction.atomic():
            return (
                refund_funding_received_locked(
                    payment_hash=refund.funding_payment_hash, amount_sats=None, source="poll"
                )
                or "missing"
            )
    if status.state is InvoiceState.EXPIRED:
        with transaction.atomic():
            locked = lock_refund(refund_id=refund_id)
            assert locked is not None
            split, refund = locked
            if refund.status != R.AWAITING_FUNDING:
                return "changed"
            transition_refund(split, refund, R.EXPIRED, event_type="refund_expired", data={"source": "poll"})
        log.info("refund.expired", refund_id=refund_id)
        return "expired"
    return "pending"


def refunds_awaiting_funding(*, batch_size: int) -> list[int]:
    """Refunds whose funding is still open, oldest first (the sweep polls them)."""
    return list(
        Refund.objects.filter(status=R.AWAITING_FUNDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch_size]
    )


def _refund_provider(refund: Refund) -> WalletProvider:
    """The provider of the platform account that received the refunded sale."""
    return provider_for(account_id=split_account_id(split_id=refund.split_id))
