"""Blink's word on a payout invoice issued outside Blink (an LNURL route), for the re-arm decision.

Blink answers ``lnInvoicePaymentStatusByHash`` only for its own wallets' invoices, so for an outside
invoice "may we ask for a new one?" is read from two things (money rule 3: a second invoice only once
the first can no longer be paid by us):

- the platform wallet's ledger (``payment_lookup``): a send that FAILED (its debit returned) is
  Blink saying the old invoice failed: a new one may be requested; a send SUCCEEDED or PENDING: never;
- no send of ours at all: the invoice's own BOLT11 expiry, plus a margin for clocks and in-flight
  HTLCs; before that the SAME bolt11 is paid again (a duplicate is refused by the recipient's node,
  and Blink answers ALREADY_PAID for a bolt11 this wallet paid).

Called outside any transaction; the caller decides under the split lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bolt11
from bolt11.exceptions import Bolt11Exception

from blinkpos.logging import get_logger
from payments.wallet.base import WalletProvider
from payments.wallet.errors import WalletError
from payments.wallet.types import InvoiceState, SendStatus

log = get_logger(__name__)

EXPIRY_MARGIN = timedelta(minutes=10)


def outside_invoice_state(payment_request: str, *, now: datetime | None = None) -> InvoiceState:
    """EXPIRED once the bolt11's expiry plus the margin has passed, else PENDING (undecodable: PENDING,
    i.e. never replaced on our clock alone)."""
    try:
        decoded = bolt11.decode(payment_request)
    except (Bolt11Exception, ValueError, TypeError, KeyError):
        return InvoiceState.PENDING
    expires = datetime.fromtimestamp(decoded.date + (decoded.expiry or 3600), UTC)
    return InvoiceState.EXPIRED if (now or datetime.now(UTC)) >= expires + EXPIRY_MARGIN else InvoiceState.PENDING


def outside_may_replace(*, payment_hash: str, payment_request: str, provider: WalletProvider) -> bool | None:
    """True: a new invoice may be requested; False: pay the same one; None: Blink did not answer."""
    try:
        lookup = provider.payment_lookup(payment_hash=payment_hash)
    except WalletError as exc:
        log.warning("forwarding.outside_lookup_failed", payout_hash=payment_hash, error_code=exc.code)
        return None
    if lookup.status is SendStatus.FAILED:
        return True
    if lookup.status is SendStatus.UNKNOWN:
        return outside_invoice_state(payment_request) is InvoiceState.EXPIRED
    return False
