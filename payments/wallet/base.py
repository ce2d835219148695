"""The wallet-provider interface services depend on.

Everything is keyword-only so an amount can never land in the memo slot. Implementations validate
their inputs before any I/O (``validation.py``) and raise the errors in ``errors.py``, except
``pay_invoice``, which reports every outcome (including "we do not know") in its ``SendResult``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from payments.wallet.fees import FeeProbe
from payments.wallet.types import (
    CreatedInvoice,
    InvoiceStatus,
    KeyInfo,
    PaymentLookup,
    Price,
    SendResult,
    TransactionPage,
    WalletRef,
)


@runtime_checkable
class WalletProvider(Protocol):
    def create_invoice(
        self,
        *,
        amount_sats: int,
        memo: str | None,
        expires_in_minutes: int,
        external_id: str,
        description_hash: str | None = None,
    ) -> CreatedInvoice:
        """A BOLT11 invoice on the platform's BTC wallet (``lnInvoiceCreate``; with ``description_hash``,
        ``lnInvoiceCreateOnBehalfOfRecipient`` on the platform wallet, see below).

        ``external_id`` is unique per account on Blink: a second create with the same id raises
        ``DuplicateExternalId``, which is how a retried create learns the first one succeeded.
        """
        ...

    def create_invoice_for_recipient(
        self,
        *,
        recipient_wallet_id: str,
        amount_sats: int,
        memo: str | None,
        external_id: str,
        expires_in_minutes: int = 1440,
        description_hash: str | None = None,
    ) -> CreatedInvoice:
        """An invoice credited to a BTC wallet of any account (``lnInvoiceCreateOnBehalfOfRecipient``).

        ``description_hash`` (64 hex): the SHA-256 of LNURL-pay metadata, which LUD-06 requires as the
        invoice's description hash; it replaces the memo (give ``memo=None``). ``lnInvoiceCreate`` has
        no such input, so a pay code's invoice on the platform wallet is created through this one.
        """
        ...

    def invoice_status(self, *, payment_hash: str) -> InvoiceStatus:
        """PENDING / PAID / EXPIRED; a returned preimage has been checked against the hash."""
        ...

    def cancel_invoice(self, *, payment_hash: str) -> bool:
        """Cancel an unpaid platform invoice. False: Blink says it was already processed (paid or
        cancelled); check ``invoice_status`` before assuming either."""
        ...

    def resolve_username(self, *, username: str) -> WalletRef:
        """The account's BTC wallet. Raises ``RecipientNotFound`` or ``WrongCurrency``."""
        ...

    def pay_invoice(self, *, payment_request: str, memo: str | None = None) -> SendResult:
        """Pay from the platform wallet. Never raises for transport or Blink errors: an outcome we
        cannot be sure of is ``SendStatus.UNKNOWN``; FAILED only when Blink explicitly said so."""
        ...

    def payment_lookup(self, *, payment_hash: str) -> PaymentLookup:
        """What the platform wallet's ledger holds for a send with this hash (reconciliation)."""
        ...

    def wallet_transactions(self, *, after: str | None = None, first: int = 50) -> TransactionPage:
        """One page of the platform wallet's history, NEWEST FIRST (Blink's order), and its balance.

        ``first`` is 1-100 transactions; ``after`` is the ``end_cursor`` of the previous page (None: start
        from the newest). Walking back stops at a transaction id already seen (a checkpoint) or when
        ``has_next_page`` is False. Read-only: needs the READ scope, moves nothing.
        """
        ...

    def fee_probe(self, *, payment_request: str) -> FeeProbe:
        """``lnInvoiceFeeProbe`` from the platform wallet: 0 for Blink-internal invoices, the routing
        fee estimate otherwise; a refusal (no route) comes back in ``FeeProbe.error_code``."""
        ...

    def btc_price(self, *, currency: str) -> Price:
        """Exact BTC price in a display currency."""
        ...

    def key_info(self, *, api_key: str) -> KeyInfo:
        """Scopes and wallets of *another* API key (e.g. one a merchant pasted in)."""
        ...
