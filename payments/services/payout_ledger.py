"""What the platform wallet's ledger says about a payout send (docs/ARCHITECTURE.md money rules 2-3):
a FAILURE confirmed before it is recorded, and an outside payment's fee reimbursement read after a
success. Called by ``forwarding`` outside any transaction."""

from __future__ import annotations

import dataclasses

from blinkpos.logging import get_logger
from payments.services.leg_outcomes import PAID_NOT_BY_US
from payments.wallet.base import WalletProvider
from payments.wallet.errors import WalletError
from payments.wallet.types import InvoiceState, SendResult, SendStatus

log = get_logger(__name__)


def with_reimbursement(payment_hash: str, result: SendResult, *, provider: WalletProvider) -> SendResult:
    """An outside payment's unused fee comes back as a RECEIVE under its hash: read it from the ledger
    so the leg records charged and reimbursed (the books balance uses both). Best effort: Blink not
    answering leaves it unknown, which the books then report as a fee difference to look at."""
    try:
        lookup = provider.payment_lookup(payment_hash=payment_hash)
    except WalletError:
        return result
    if lookup.status is not SendStatus.SUCCEEDED:
        return result
    return dataclasses.replace(result, fee_reimbursed_sats=lookup.fee_reimbursed_sats)


def confirm_failure(*, payment_hash: str, result: SendResult, provider: WalletProvider) -> SendResult:
    """What Blink's ledger says about a send Blink answered FAILURE (outside any transaction).

    A send of ours in the platform wallet's ledger wins over the answer (the flow-expired "Invoice is
    already paid", an error after the ledger entry): SUCCEEDED or PENDING. No send and the invoice
    not paid: the failure stands. No send but the invoice paid: someone else paid it, never ours to
    re-send (``unknown``, for an operator). Blink not answering: ``unknown``, settled by the
    reconciler's lookup; a FAILURE is never recorded unconfirmed. ``provider``: the account that sent."""
    try:
        lookup = provider.payment_lookup(payment_hash=payment_hash)
        state = None
        if lookup.status is SendStatus.UNKNOWN:
            state = provider.invoice_status(payment_hash=payment_hash).state
    except WalletError as exc:  # InvoiceNotFound included: nothing to confirm the failure with
        log.warning("forwarding.failure_unconfirmed", payout_hash=payment_hash, error_code=exc.code)
        return SendResult(status=SendStatus.UNKNOWN, error_code=result.error_code, message=result.message)
    log.info("forwarding.failure_checked", payout_hash=payment_hash, ledger=lookup.status.value, invoice=str(state))
    if lookup.status is SendStatus.SUCCEEDED:
        return SendResult(
            status=SendStatus.SUCCEEDED,
            fee_sats=None if lookup.fee_sats is None else lookup.fee_sats + lookup.fee_reimbursed_sats,
            preimage=lookup.preimage,
            fee_reimbursed_sats=lookup.fee_reimbursed_sats,
        )
    if lookup.status is SendStatus.PENDING:
        return SendResult(status=SendStatus.PENDING, error_code=result.error_code, message=result.message)
    if state is InvoiceState.PAID:
        return SendResult(
            status=SendStatus.UNKNOWN, error_code=PAID_NOT_BY_US, message="Paid, but not by the platform wallet."
        )
    return result
