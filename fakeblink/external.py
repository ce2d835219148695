"""Lightning beyond the fake's own ledger: invoices issued by outside simulated nodes (self-custodial
"Spark" wallets of migrated accounts, the outside LNURL host's users) and the platform paying them.

An outside payment behaves like Blink's: the fee probe estimates a routing fee; the send debits
amount + that fee, then (on success) a fee reimbursement for the unused part comes back as a
RECEIVE with the same payment hash (``memo="fee reimbursement"``); PENDING then SUCCESS or FAILURE
can be scripted (``lnInvoicePaymentSend`` outcomes); a failed send returns the whole debit. An
invoice no simulated node issued cannot be routed (``ROUTE_FINDING_ERROR``), and a bolt11 this
wallet already paid answers ``ALREADY_PAID``.

Called by the ledger under ``ledger.lock`` (an RLock), so every balance change and its transactions
are written in one critical section, as the ledger does for its own invoices.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import bolt11

from fakeblink.bolt11_mint import SimulatedNode
from fakeblink.records import BlinkFailure, Tx, Wallet

if TYPE_CHECKING:
    from fakeblink.ledger import Ledger

FEE_BASE_SATS = 1
FEE_PPM = 5_000  # 0.5 %: large enough to be seen in tests, like a real probe on a small payment
NO_ROUTE = ("ROUTE_FINDING_ERROR", "Unable to find a route for payment.")


@dataclass
class ExternalInvoice:
    payment_hash: str
    payment_request: str = field(repr=False)
    preimage: str = field(repr=False)
    receiver: str  # "spark:alice", "outside:bob": who would hold the money
    node: str
    amount_msat: int
    expires_at: float
    paid: bool = False
    in_flight: bool = False


@dataclass
class _Pending:
    tx: Tx
    invoice: ExternalInvoice
    polls_left: int
    succeed: bool


def fee_estimate(amount_sats: int) -> int:
    return FEE_BASE_SATS + -(-amount_sats * FEE_PPM // 1_000_000)


def actual_fee(estimate: int) -> int:
    """What the route really cost: about half the estimate, the rest is reimbursed."""
    return max(1, estimate // 2) if estimate else 0


class ExternalLightning:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self.invoices: dict[str, ExternalInvoice] = {}
        self._by_request: dict[str, str] = {}
        self._pending: dict[str, _Pending] = {}
        self.received_msat: dict[str, int] = {}  # receiver -> total settled to them

    def issue(
        self, *, node: SimulatedNode, receiver: str, amount_msat: int, description_hash: str, expiry_seconds: int
    ) -> ExternalInvoice:
        """An invoice of an outside node, payable by the platform over (simulated) Lightning."""
        ledger = self._ledger
        with ledger.lock:
            preimage = ledger.random_hex(32)
            payment_hash = hashlib.sha256(bytes.fromhex(preimage)).hexdigest()
            now = int(ledger.now())
            request = node.mint(
                payment_hash=payment_hash,
                payment_secret=ledger.random_hex(32),
                amount_sats=amount_msat // 1000,
                amount_msat=amount_msat,
                created_at=now,
                expiry_seconds=expiry_seconds,
                description_hash=description_hash,
            )
            invoice = ExternalInvoice(
                payment_hash=payment_hash,
                payment_request=request,
                preimage=preimage,
                receiver=receiver,
                node=node.name,
                amount_msat=amount_msat,
                expires_at=now + expiry_seconds,
            )
            self.invoices[payment_hash] = invoice
            self._by_request[request.lower()] = payment_hash
            return invoice

    def find(self, payment_request: str) -> ExternalInvoice | None:
        with self._ledger.lock:
            payment_hash = self._by_request.get(payment_request.strip().lower())
            return self.invoices.get(payment_hash) if payment_hash else None

    def probe(self, payment_request: str) -> int:
        """lnInvoiceFeeProbe for an invoice outside the ledger; raises "no route" for unknown ones."""
        invoice = self.find(payment_request)
        if invoice is None:
            raise BlinkFailure(*NO_ROUTE)
        return fee_estimate(invoice.amount_msat // 1000)

    def _tx(self, invoice: ExternalInvoice, *, wallet: Wallet, direction: str, status: str, amount: int) -> Tx:
        return Tx(
            id=self._ledger.random_hex(12),
            wallet_id=wallet.id,
            direction=direction,
            status=status,
            amount=amount,
            payment_hash=invoice.payment_hash,
            payment_request=invoice.payment_request,
            created_at=self._ledger.now(),
            settlement="lightning",
        )

    def pay(self, *, payer: Wallet, payment_request: str, memo: str | None, mode: str) -> tuple[str, Tx | None]:
        """lnInvoicePaymentSend of an invoice that is not in the ledger."""
        ledger = self._ledger
        with ledger.lock:
            invoice = self.find(payment_request)
            # The string exactly as minted is known to decode (tests/fakeblink/test_bolt11_mint.py);
            # bolt11.decode costs ~5 CPU ms, so only other spellings of it (case, spaces) pay for it.
            if invoice is None or (payment_request != invoice.payment_request and not _decodes(payment_request)):
                raise BlinkFailure(*NO_ROUTE)
            if invoice.paid:
                return "ALREADY_PAID", None
            if invoice.in_flight:
                raise BlinkFailure("INVALID_INPUT", "There is a pending payment for this invoice")
            if ledger.now() >= invoice.expires_at:
                raise BlinkFailure("LIGHTNING_PAYMENT_ERROR", "Invoice already expired, or has bad payment hash")
            if payer.currency != "BTC":
                raise BlinkFailure("INVALID_INPUT", "Unsupported operation for wallet's currency.")
            amount = invoice.amount_msat // 1000
            fee = fee_estimate(amount)
            if payer.balance < amount + fee:
                raise BlinkFailure("INSUFFICIENT_BALANCE", f"Payment amount '{amount + fee}' exceeds balance")
            payer.balance -= amount + fee
            pending = mode in ("pending_success", "pending_failure")
            tx = self._tx(
                invoice,
                wallet=payer,
                direction="SEND",
                status="PENDING" if pending else "SUCCESS",
                amount=-(amount + fee),
            )
            tx.fee, tx.memo = fee, memo
            if not pending:
                tx.preimage = invoice.preimage
            ledger.record_tx(tx, "send.lightning")
            if pending:
                invoice.in_flight = True
                self._pending[invoice.payment_hash] = _Pending(
                    tx=tx, invoice=invoice, polls_left=ledger.pending_polls, succeed=mode == "pending_success"
                )
                return "PENDING", tx
            if mode == "reimbursed":
                self._refund(invoice, payer, amount + fee, memo="reimbursement")
                return "SUCCESS", tx
            self._settle(invoice, tx, payer)
            return "SUCCESS", tx

    def _refund(self, invoice: ExternalInvoice, payer: Wallet, amount: int, *, memo: str) -> None:
        payer.balance += amount
        refund = self._tx(invoice, wallet=payer, direction="RECEIVE", status="SUCCESS", amount=amount)
        refund.memo = memo
        self._ledger.record_tx(refund, "receive.lightning")

    def _settle(self, invoice: ExternalInvoice, tx: Tx, payer: Wallet) -> None:
        invoice.paid, invoice.in_flight = True, False
        tx.status, tx.preimage = "SUCCESS", invoice.preimage
        self.received_msat[invoice.receiver] = self.received_msat.get(invoice.receiver, 0) + invoice.amount_msat
        unused = tx.fee - actual_fee(tx.fee)
        if unused > 0:
            # Blink charges the probe's fee up front and gives back what the route did not use.
            self._refund(invoice, payer, unused, memo="fee reimbursement")

    def touch(self, payment_hash: str) -> None:
        """A lookup of ``payment_hash``: a pending outside send settles once its polls are used up."""
        with self._ledger.lock:
            pending = self._pending.get(payment_hash)
            if pending is None:
                return
            if pending.polls_left > 0:
                pending.polls_left -= 1
                return
            self.settle(payment_hash)

    def settle(self, payment_hash: str) -> bool:
        ledger = self._ledger
        with ledger.lock:
            pending = self._pending.pop(payment_hash, None)
            if pending is None:
                return False
            payer = ledger.wallets[pending.tx.wallet_id]
            if pending.succeed:
                self._settle(pending.invoice, pending.tx, payer)
            else:
                pending.invoice.in_flight = False
                pending.tx.status = "FAILURE"
                payer.balance -= pending.tx.amount  # negative: amount + fee come back
            ledger.notify_tx(pending.tx, "send.lightning")
            return True


def _decodes(payment_request: str) -> bool:
    try:
        bolt11.decode(payment_request)
    except Exception:
        return False
    return True
