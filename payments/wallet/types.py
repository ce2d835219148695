"""Typed values that cross the wallet boundary.

Everything here is a frozen, keyword-only dataclass so a result cannot be half-built or mutated after
the client checked it. Secrets (bolt11 payment requests, preimages) are ``repr=False`` so a stray
``log.info("%r", invoice)`` or a traceback never prints them.

Amounts are integer satoshis (``*_sats``). Display-currency amounts are ``Decimal``; see
``conversion.py``. No floats anywhere.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class InvoiceState(enum.Enum):
    """Blink's ``InvoicePaymentStatus``."""

    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"


class SendStatus(enum.Enum):
    """Outcome of a send, tri-state plus PENDING.

    UNKNOWN means "we do not know whether money moved" (timeout, dropped connection, 5xx, garbage);
    it must be resolved with ``payment_lookup``, never treated as a failure.
    """

    SUCCEEDED = "SUCCEEDED"
    PENDING = "PENDING"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, kw_only=True)
class CreatedInvoice:
    payment_hash: str
    payment_request: str = field(repr=False)
    amount_sats: int
    # Blink's LnInvoice has no expiry field: this is createdAt + the expiresIn we sent (which the
    # client validated to be inside Blink's 1-1440 window, so Blink did not replace it).
    expires_at: datetime | None
    external_id: str | None


@dataclass(frozen=True, kw_only=True)
class InvoiceStatus:
    payment_hash: str
    state: InvoiceState
    # Only present when PAID (and only on Blink versions that return it); already checked against
    # payment_hash by the client.
    preimage: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class WalletRef:
    wallet_id: str
    currency: str
    username: str | None = None


@dataclass(frozen=True, kw_only=True)
class SendResult:
    status: SendStatus
    error_code: str | None = None
    message: str | None = None
    fee_sats: int | None = None
    preimage: str | None = field(default=None, repr=False)
    # ALREADY_PAID from Blink: the invoice was paid before (by us on an earlier attempt, if the
    # caller only ever pays invoices it created for this leg). No second debit happened.
    already_paid: bool = False
    # Seconds to wait before trying again, when the gateway said so (HTTP 429 Retry-After).
    retry_after: float | None = None
    # What Blink gave back of ``fee_sats`` (charged) after an outside payment, when known.
    fee_reimbursed_sats: int | None = None

    @property
    def ok(self) -> bool | None:
        """True: settled. False: Blink explicitly said it failed. None: pending or unknown."""
        if self.status is SendStatus.SUCCEEDED:
            return True
        if self.status is SendStatus.FAILED:
            return False
        return None


@dataclass(frozen=True, kw_only=True)
class PaymentLookup:
    """What the platform wallet's ledger says about a send, by payment hash.

    ``status`` is UNKNOWN when no send with that hash exists in the platform wallet: the payment
    never reached Blink's ledger, so re-paying the same invoice is safe.
    """

    payment_hash: str
    status: SendStatus
    fee_sats: int | None = None  # net of any fee reimbursement
    preimage: str | None = field(default=None, repr=False)
    # The unused routing fee Blink gave back after an outside payment (charged = fee_sats + this).
    fee_reimbursed_sats: int = 0


@dataclass(frozen=True, kw_only=True)
class Price:
    """BTC price in a display currency, as Blink's ``realtimePrice`` gives it.

    Blink prices one satoshi in *minor* units of the display currency as the exact integer pair
    ``base / 10**offset`` (offset is 12 on Blink today). We keep that pair instead of a rounded
    Decimal so conversions are exact; ``fraction_digits`` says how many minor units make a major
    one (2 for USD cents, 0 for JPY).
    """

    currency: str
    base: int
    offset: int
    fraction_digits: int
    timestamp: datetime | None = None

    @property
    def minor_units_per_sat(self) -> Decimal:
        return Decimal(self.base).scaleb(-self.offset)

    @property
    def sats_per_unit(self) -> Decimal:
        """Satoshis for one major unit of the currency (e.g. one dollar), for display only."""
        return Decimal(10**self.fraction_digits * 10**self.offset) / Decimal(self.base)


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    scopes: frozenset[str]
    wallets: tuple[WalletRef, ...]

    @property
    def btc_wallet(self) -> WalletRef | None:
        return next((w for w in self.wallets if w.currency == "BTC"), None)


def preimage_matches(*, preimage: str, payment_hash: str) -> bool:
    """sha256(preimage bytes) == payment hash: the cryptographic proof that an invoice was paid."""
    try:
        raw = bytes.fromhex(preimage)
    except ValueError:
        return False
    return hashlib.sha256(raw).hexdigest() == payment_hash.lower()


class TxDirection(enum.Enum):
    """Blink's ``TxDirection``: money into (RECEIVE) or out of (SEND) the wallet."""

    RECEIVE = "RECEIVE"
    SEND = "SEND"


class TxStatus(enum.Enum):
    """Blink's ``TxStatus``. PENDING may still become SUCCESS or FAILURE under the same id."""

    SUCCESS = "SUCCESS"
    PENDING = "PENDING"
    FAILURE = "FAILURE"


@dataclass(frozen=True, kw_only=True)
class WalletTransaction:
    """One entry of the platform wallet's history (Blink's ``Transaction``), without its secrets.

    ``amount_sats`` is Blink's signed ``settlementAmount``: positive for a receive, negative for a send
    (the wallet's debit, fee included). ``fee_sats`` is ``settlementFee`` as a non-negative number.
    ``payment_hash`` is set when the transaction was initiated over Lightning (every invoice BlinkPOS
    creates or pays), None for intraledger-by-wallet-id and on-chain ones.
    """

    id: str
    cursor: str
    created_at: datetime
    direction: TxDirection
    status: TxStatus
    amount_sats: int
    fee_sats: int
    currency: str
    payment_hash: str | None
    external_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class TransactionPage:
    """One page of ``wallet_transactions``, newest first, and the wallet's balance when it was read.

    Blink lists a wallet's transactions newest first: to walk back in time, ask again with
    ``after=end_cursor`` while ``has_next_page``.
    """

    wallet_id: str
    balance_sats: int
    transactions: tuple[WalletTransaction, ...]
    has_next_page: bool
    end_cursor: str | None
