"""Getting a payout invoice from a Lightning address, checked before anyone commits it
(docs/ARCHITECTURE.md, money rule 8).

``payout_invoice_request`` is what the forward calls for an LNURL route: it asks the address's
callback for exactly the amount, then checks the answer (``payments.lnurl.invoice_check``) against
the asked amount, the metadata's hash, a minimum remaining lifetime and every payment hash our books
already hold (other legs, incoming sales). It returns a ``CheckedInvoice`` to commit on the leg, or
an ``InvoiceRefusal`` (code + reason) to record on the leg; a refused invoice is never paid.

No transaction is held here (it makes HTTP calls); the caller commits the result under its own lock.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from blinkpos.logging import get_logger
from payments.lnurl.client import LnurlError, LnurlPayParams, request_invoice
from payments.lnurl.invoice_check import CheckedInvoice, InvoiceRefusal, check_payout_invoice
from payments.models import PaymentLeg, PaymentSplit, PoolPayout, Refund
from payments.services.payout_routes import lnurl_policy

log = get_logger(__name__)


def payment_hash_seen(payment_hash: str, *, leg_id: int | None = None) -> bool:
    """True when any other leg, any sale, any refund (funding or payout) or any pool payout already
    carries this hash."""
    legs = PaymentLeg.objects.filter(payment_hash=payment_hash)
    if leg_id is not None:
        legs = legs.exclude(pk=leg_id)
    return (
        legs.exists()
        or PaymentSplit.objects.filter(payment_hash=payment_hash).exists()
        or Refund.objects.filter(Q(funding_payment_hash=payment_hash) | Q(payout_hash=payment_hash)).exists()
        or PoolPayout.objects.filter(payment_hash=payment_hash).exists()
    )


def payout_invoice_request(
    *, params: LnurlPayParams, amount_sats: int, comment: str | None = None, leg_id: int | None = None
) -> CheckedInvoice | InvoiceRefusal:
    """Ask ``params``' callback for ``amount_sats`` and check what comes back."""
    amount_msat = amount_sats * 1000
    try:
        answer = request_invoice(params, amount_msat=amount_msat, comment=comment, policy=lnurl_policy())
    except LnurlError as exc:
        log.warning("payout_invoice.lnurl_refused", address=params.address, code=exc.code, leg_id=leg_id)
        return InvoiceRefusal(code=f"lnurl.{exc.code}", reason=exc.reason)
    result = check_payout_invoice(
        answer.payment_request,
        amount_msat=amount_msat,
        metadata=params.metadata,
        hash_seen=lambda payment_hash: payment_hash_seen(payment_hash, leg_id=leg_id),
        min_remaining_seconds=settings.PAYOUT_INVOICE_MIN_REMAINING_SECONDS,
    )
    if isinstance(result, InvoiceRefusal):
        log.warning("payout_invoice.refused", address=params.address, code=result.code, leg_id=leg_id)
    else:
        log.info("payout_invoice.checked", address=params.address, payment_hash=result.payment_hash, leg_id=leg_id)
    return result
