"""The fake Blink's books: accounts, wallets, invoices and transactions behind one lock.

Every mutation happens under ``self.lock`` and leaves the books balanced: a debit and its credit (or
its refund) are written in the same critical section. Blink-domain refusals are raised as
``BlinkFailure(code, message)``; the resolvers turn them into Blink-shaped GraphQL answers.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fakeblink.bolt11_mint import SimulatedNode
from fakeblink.external import ExternalLightning
from fakeblink.limits import Limits
from fakeblink.records import Account, BlinkFailure, Invoice, Tx, Wallet

DEFAULT_EXPIRES_MINUTES = 240  # Blink's default for BTC invoices (invoice-expiration.ts)


@dataclass
class _PendingSettlement:
    payer_tx: Tx
    invoice: Invoice
    polls_left: int
    succeed: bool


class LedgerObserver(Protocol):
    def invoice_created(self, invoice: Invoice) -> None: ...

    def transaction_recorded(self, account: Account, tx: Tx, event_type: str) -> None: ...


class Ledger:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        rng: random.Random,
        observer: LedgerObserver,
        node: SimulatedNode | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._rng = rng
        self._observer = observer
        self.accounts: dict[str, Account] = {}
        self.wallets: dict[str, Wallet] = {}
        self.invoices: dict[str, Invoice] = {}
        self.transactions: list[Tx] = []
        self._by_request: dict[str, str] = {}
        # Indexes over the append-only records above. Without them a create scanned every invoice and
        # a status query every transaction: CPU per request grew with the length of a load run.
        self._external_ids: set[tuple[str, str]] = set()  # (account id, external id) of every invoice
        self._txs_by_hash: dict[str, list[Tx]] = {}  # payment hash -> its transactions, recording order
        self._pending: dict[str, _PendingSettlement] = {}
        self.pending_polls = 3
        # Blink caches a payer's payment flow for 5 minutes (defaultTimeToExpiryInSeconds): a second send
        # of a paid invoice inside that window answers ALREADY_PAID with the first send's transaction.
        # Once the flow has expired (or another wallet paid) Blink rebuilds it and answers FAILURE
        # "Invoice is already paid". None keeps answering ALREADY_PAID forever (the lenient default).
        self.already_paid_flow_seconds: float | None = None
        self.limits: Limits | None = None  # Blink's account limits (fakeblink/limits.py); None: none
        # The simulated Blink node that signs every invoice of this ledger (real BOLT11).
        self.node = node or SimulatedNode.derive("blink", uuid.uuid4().hex)
        self.external = ExternalLightning(self)

    def now(self) -> float:
        return self._clock()

    # -- ids ----------------------------------------------------------------------------------

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _hex(self, nbytes: int) -> str:
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    random_hex = _hex

    # -- accounts -----------------------------------------------------------------------------

    def add_account(
        self,
        *,
        username: str,
        balance: int,
        currencies: tuple[str, ...],
        receive_disabled: bool,
        api_key: str | None,
        scopes: frozenset[str],
        wallet_id: str | None = None,
    ) -> Account:
        username = username.lower()
        with self.lock:
            if self.account_by_username(username) is not None:
                raise ValueError(f"username {username!r} already exists")
            if api_key is not None and self.account_by_key(api_key) is not None:
                raise ValueError("api key already in use")
            account = Account(
                id=self.new_uuid(),
                user_id=self.new_uuid(),
                username=username,
                api_key=api_key,
                scopes=scopes,
                wallet_ids=[],
                receive_disabled=receive_disabled,
            )
            for i, currency in enumerate(currencies):
                wid = wallet_id if (i == 0 and wallet_id) else self.new_uuid()
                # The balance goes to the first wallet (BTC sats, or USD cents for a USD-only account).
                self.wallets[wid] = Wallet(
                    id=wid, account_id=account.id, currency=currency, balance=balance if i == 0 else 0
                )
                account.wallet_ids.append(wid)
            self.accounts[account.id] = account
            return account

    def account_by_username(self, username: str) -> Account | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.username == username.lower()), None)

    def account_by_key(self, api_key: str) -> Account | None:
        with self.lock:
            return next((a for a in self.accounts.values() if a.api_key == api_key), None)

    def owned_wallet(self, account: Account, wallet_id: str) -> Wallet:
        with self.lock:
            if wallet_id not in account.wallet_ids:
                raise BlinkFailure("INVALID_INPUT", "Invalid walletId for account.")
            return self.wallets[wallet_id]

    # -- invoices -----------------------------------------------------------------------------

    def create_invoice(
        self,
        *,
        wallet: Wallet,
        amount: int,
        memo: str | None,
        external_id: str | None,
        expires_in: int | None,
        description_hash: str | None = None,
    ) -> Invoice:
        if wallet.currency != "BTC":
            raise BlinkFailure("INVALID_INPUT", "Unsupported operation for wallet's currency.")
        # Like Blink: an expiry outside [1, 1440] minutes is silently replaced by the default.
        minutes = expires_in if expires_in is not None and 1 <= expires_in <= 1440 else DEFAULT_EXPIRES_MINUTES
        with self.lock:
            preimage = self._hex(32)
            payment_hash = hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
            external_id = external_id or payment_hash
            if (wallet.account_id, external_id) in self._external_ids:
                raise BlinkFailure("INVALID_INPUT", "External id for invoice or transaction already exists")
            now = self._clock()
            payment_secret = self._hex(32)
            invoice = Invoice(
                payment_hash=payment_hash,
                payment_request=self.node.mint(
                    payment_hash=payment_hash,
                    payment_secret=payment_secret,
                    amount_sats=amount,
                    created_at=int(now),
                    expiry_seconds=minutes * 60,
                    memo=memo,
                    description_hash=description_hash,
                ),
                preimage=preimage,
                payment_secret=payment_secret,
                wallet_id=wallet.id,
                account_id=wallet.account_id,
                amount_sats=amount,
                memo=memo,
                external_id=external_id,
                created_at=now,
                expires_at=now + minutes * 60,
            )
            self.invoices[payment_hash] = invoice
            self._external_ids.add((wallet.account_id, external_id))
            self._by_request[invoice.payment_request] = payment_hash
            self._observer.invoice_created(invoice)
            return invoice

    def invoice_by_request(self, payment_request: str) -> Invoice | None:
        with self.lock:
            # BOLT11 is case-insensitive; the fake hands out lower case.
            payment_hash = self._by_request.get(payment_request.strip().lower())
            return self.invoices.get(payment_hash) if payment_hash else None

    def invoice_state(self, invoice: Invoice) -> str:
        """Blink's InvoicePaymentStatus. A cancelled invoice can never be paid: EXPIRED."""
        with self.lock:
            if invoice.paid:
                return "PAID"
            if invoice.cancelled or self._clock() >= invoice.expires_at:
                return "EXPIRED"
            return "PENDING"

    def cancel_invoice(self, *, wallet: Wallet, payment_hash: str) -> None:
        with self.lock:
            invoice = self.invoices.get(payment_hash)
            if invoice is None or invoice.wallet_id != wallet.id:
                raise BlinkFailure("NOT_FOUND", "The associated lightning invoice could not be found.")
            if invoice.paid or invoice.cancelled or invoice.in_flight_tx:
                raise BlinkFailure("INVALID_INPUT", "The invoice has already been processed")
            invoice.cancelled = True

    # -- moving money -------------------------------------------------------------------------

    def _new_tx(
        self, invoice: Invoice, *, wallet_id: str, direction: str, status: str, amount: int, **extra: Any
    ) -> Tx:
        return Tx(
            id=self._hex(12),
            wallet_id=wallet_id,
            direction=direction,
            status=status,
            amount=amount,
            payment_hash=invoice.payment_hash,
            payment_request=invoice.payment_request,
            created_at=self._clock(),
            **extra,
        )

    def _record(self, tx: Tx, event_type: str) -> Tx:
        self.transactions.append(tx)
        self._txs_by_hash.setdefault(tx.payment_hash, []).append(tx)
        account = self.accounts[self.wallets[tx.wallet_id].account_id]
        self._observer.transaction_recorded(account, tx, event_type)
        return tx

    record_tx = _record

    def notify_tx(self, tx: Tx, event_type: str) -> None:
        """Tell the observer a recorded transaction changed (a pending send settled)."""
        self._observer.transaction_recorded(self.accounts[self.wallets[tx.wallet_id].account_id], tx, event_type)

    def _settle_to_recipient(self, invoice: Invoice, *, payer: Wallet | None) -> None:
        """Credit the invoice owner and mark the invoice paid (payer None: an outside customer)."""
        recipient = self.wallets[invoice.wallet_id]
        recipient.balance += invoice.amount_sats
        invoice.paid = True
        payer_account = self.accounts[payer.account_id] if payer else None
        self._record(
            self._new_tx(
                invoice,
                wallet_id=recipient.id,
                direction="RECEIVE",
                status="SUCCESS",
                amount=invoice.amount_sats,
                memo=invoice.memo,
                external_id=invoice.external_id,
                preimage=invoice.preimage,
                settlement="intraledger" if payer else "lightning",
                counterparty_wallet_id=payer.id if payer else None,
                counterparty_username=payer_account.username if payer_account else None,
            ),
            "receive.lightning",
        )

    def pay_invoice(
        self, *, payer: Wallet, payment_request: str, memo: str | None, mode: str = "normal"
    ) -> tuple[str, Tx | None]:
        """lnInvoicePaymentSend. Returns (PaymentSendResult, payer's transaction).

        ``mode``: normal | pending_success | pending_failure | reimbursed (see scenarios.py).
        """
        with self.lock:
            invoice = self.invoice_by_request(payment_request)
            if invoice is None:
                # Not one of ours: it leaves over (simulated) Lightning, or finds no route.
                return self.external.pay(payer=payer, payment_request=payment_request, memo=memo, mode=mode)
            if invoice.account_id == payer.account_id:
                raise BlinkFailure("CANT_PAY_SELF", "User tried to pay themselves")
            if invoice.paid:
                return self._already_paid(invoice, payer)
            if invoice.in_flight_tx:
                raise BlinkFailure("INVALID_INPUT", "There is a pending payment for this invoice")
            if self.invoice_state(invoice) == "EXPIRED":
                raise BlinkFailure("LIGHTNING_PAYMENT_ERROR", "Invoice already expired, or has bad payment hash")
            recipient_account = self.accounts[invoice.account_id]
            if recipient_account.receive_disabled:
                raise BlinkFailure("RECEIVE_DISABLED", "This account can no longer receive payments.")
            if payer.currency != "BTC":
                raise BlinkFailure("INVALID_INPUT", "Unsupported operation for wallet's currency.")
            if payer.balance < invoice.amount_sats:
                raise BlinkFailure(
                    "INSUFFICIENT_BALANCE",
                    f"Payment amount '{invoice.amount_sats}' exceeds balance '{payer.balance}'",
                )
            if self.limits is not None:  # the daily intraledger volume; counted only for a send that moves money
                self.limits.charge_intraledger(payer.account_id, invoice.amount_sats)
            payer.balance -= invoice.amount_sats
            pending = mode in ("pending_success", "pending_failure")
            tx = self._new_tx(
                invoice,
                wallet_id=payer.id,
                direction="SEND",
                status="PENDING" if pending else "SUCCESS",
                amount=-invoice.amount_sats,
                memo=memo,
                preimage=None if pending else invoice.preimage,
                counterparty_wallet_id=invoice.wallet_id,
                counterparty_username=recipient_account.username,
            )
            self._record(tx, "send.lightning")
            if pending:
                invoice.in_flight_tx = tx.id
                self._pending[invoice.payment_hash] = _PendingSettlement(
                    payer_tx=tx, invoice=invoice, polls_left=self.pending_polls, succeed=mode == "pending_success"
                )
                return "PENDING", tx
            if mode == "reimbursed":
                # Blink #4022: reported SUCCESS, then the money came back under the same hash.
                payer.balance += invoice.amount_sats
                refund = self._new_tx(
                    invoice,
                    wallet_id=payer.id,
                    direction="RECEIVE",
                    status="SUCCESS",
                    amount=invoice.amount_sats,
                    memo="reimbursement",
                    settlement="lightning",
                )
                self._record(refund, "receive.lightning")
                return "SUCCESS", tx
            self._settle_to_recipient(invoice, payer=payer)
            return "SUCCESS", tx

    def _already_paid(self, invoice: Invoice, payer: Wallet) -> tuple[str, Tx | None]:
        """Blink's only built-in idempotency (no second debit), bounded by its payment-flow cache."""
        ours = [t for t in self._with_hash(invoice.payment_hash) if t.wallet_id == payer.id and t.direction == "SEND"]
        latest = max(ours, key=lambda t: t.created_at) if ours else None
        flow = self.already_paid_flow_seconds
        if flow is not None and (latest is None or self._clock() - latest.created_at >= flow):
            raise BlinkFailure("LIGHTNING_PAYMENT_ERROR", "Invoice is already paid")
        return "ALREADY_PAID", latest

    def pay_as_customer(self, payment_hash: str, *, allow_expired: bool = False) -> Invoice:
        """An outside wallet pays the invoice over Lightning."""
        with self.lock:
            invoice = self.invoices.get(payment_hash)
            if invoice is None:
                raise ValueError(f"no invoice {payment_hash}")
            if invoice.paid or invoice.in_flight_tx:
                raise ValueError("invoice already paid or being paid")
            if invoice.cancelled or (self.invoice_state(invoice) == "EXPIRED" and not allow_expired):
                raise ValueError("invoice expired or cancelled")
            if self.accounts[invoice.account_id].receive_disabled:
                raise ValueError("recipient account cannot receive")
            self._settle_to_recipient(invoice, payer=None)
            return invoice

    def touch_pending(self, payment_hash: str) -> None:
        """A lookup of ``payment_hash``: a pending send settles once its polls are used up."""
        with self.lock:
            pending = self._pending.get(payment_hash)
            if pending is None:
                self.external.touch(payment_hash)
                return
            if pending.polls_left > 0:
                pending.polls_left -= 1
                return
            self.settle_pending(payment_hash)

    def settle_pending(self, payment_hash: str) -> bool:
        with self.lock:
            pending = self._pending.pop(payment_hash, None)
            if pending is None:
                return False
            tx, invoice = pending.payer_tx, pending.invoice
            invoice.in_flight_tx = None
            payer = self.wallets[tx.wallet_id]
            account = self.accounts[payer.account_id]
            if pending.succeed:
                tx.status, tx.preimage = "SUCCESS", invoice.preimage
                self._settle_to_recipient(invoice, payer=payer)
            else:
                tx.status = "FAILURE"
                payer.balance -= tx.amount  # amount is negative: the debit is returned
            self._observer.transaction_recorded(account, tx, "send.lightning")
            return True

    def transactions_for(self, wallet_id: str, payment_hash: str) -> list[Tx]:
        with self.lock:
            self.touch_pending(payment_hash)
            found = [t for t in self._with_hash(payment_hash) if t.wallet_id == wallet_id]
            return sorted(found, key=lambda t: t.created_at, reverse=True)  # Blink: newest first

    def history(self, wallet_id: str) -> list[Tx]:
        """The wallet's transactions newest first, as Blink lists them (recording order breaks ties)."""
        with self.lock:
            return [t for t in reversed(self.transactions) if t.wallet_id == wallet_id]

    def debits_for(self, payment_hash: str, wallet_id: str) -> int:
        with self.lock:
            return sum(1 for t in self._with_hash(payment_hash) if t.wallet_id == wallet_id and t.direction == "SEND")

    def _with_hash(self, payment_hash: str) -> list[Tx]:
        return self._txs_by_hash.get(payment_hash, [])
