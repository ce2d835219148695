"""Cancelling an abandoned sale: at the provider when it can, then ``pending -> cancelled`` here."""

from __future__ import annotations

from django.db import transaction

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import PaymentSplit, SplitStatus
from payments.platform_accounts import provider_for
from payments.services.transitions import lock_split, transition_split
from payments.wallet.base import WalletProvider
from payments.wallet.errors import InvoiceNotFound, WalletError
from payments.wallet.types import InvoiceState

log = get_logger(__name__)


class InvoiceNotCancellable(ApplicationError):
    """The split has moved past ``pending`` (or was paid at the provider) and cannot be cancelled."""

    code = "not_cancellable"
    http_status = 409

    def __init__(self, status: str) -> None:
        super().__init__(f"An invoice in status {status!r} cannot be cancelled.")
        self.status = status


def invoice_cancel(*, split: PaymentSplit) -> PaymentSplit:
    """Cancel an abandoned sale: at the provider when it can, then ``pending → cancelled`` here.

    Cancelling at the provider is best effort: if the provider cannot be reached the split is still
    cancelled locally, which is safe because a payment that arrives later moves ``cancelled → paid``
    and is forwarded (money rule 7 in docs/ARCHITECTURE.md). A provider that says the invoice was
    already paid wins: the sale is not cancelled. Already cancelled: returned unchanged (idempotent).
    Raises ``InvoiceNotCancellable``. Side effects: evicts ``tip:{hash}`` (via the transition).
    """
    if split.status == SplitStatus.CANCELLED:
        return split
    if split.status != SplitStatus.PENDING:
        raise InvoiceNotCancellable(split.status)
    cancelled_at_provider = _cancel_at_provider(split.payment_hash, provider_for(account_id=split.platform_account_id))
    with transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        if locked is None:  # deleted under us: impossible with PROTECT, but never a 500
            raise InvoiceNotCancellable("missing")
        if locked.status == SplitStatus.CANCELLED:
            return locked
        if locked.status != SplitStatus.PENDING:
            raise InvoiceNotCancellable(locked.status)
        transition_split(
            locked,
            SplitStatus.CANCELLED,
            event_type="cancelled",
            data={"cancelled_at_provider": cancelled_at_provider},
        )
    log.info("invoice.cancelled", payment_hash=locked.payment_hash, at_provider=cancelled_at_provider)
    return locked


def _cancel_at_provider(payment_hash: str, provider: WalletProvider) -> bool:
    """True when the sale's account cancelled the invoice. Raises ``InvoiceNotCancellable`` when it was paid."""
    try:
        if provider.cancel_invoice(payment_hash=payment_hash):
            return True
        # "Already processed": paid or cancelled before. Only a paid invoice blocks the cancel.
        if provider.invoice_status(payment_hash=payment_hash).state is InvoiceState.PAID:
            raise InvoiceNotCancellable("paid")
    except InvoiceNotFound:
        log.warning("invoice.cancel_not_at_provider", payment_hash=payment_hash)
    except WalletError as exc:
        log.warning("invoice.cancel_provider_failed", payment_hash=payment_hash, code=exc.code)
    return False
