"""The receipt as data: what a sale's or a refund's receipt says, independent of paper.

``ReceiptDocument`` is built once and rendered by the HTML template and by ``receipt_escpos``, so the
page, the printout and the bytes a terminal prints never disagree. A refund receipt is the same
document with ``kind="refund"``, its own lines (the refunded sale and tip parts), reason and proof.

A receipt shows only the sale it is for: the merchant's public name and receipt address, amounts,
the staff who were tipped (display names), the memo, and the proof of payment. No ids, no links.
A refund receipt shows no invoice (bolt11), no claim link and no funding details: only the proof the
customer was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from django.utils import timezone

from payments.models import PaymentSplit, Refund, RefundStatus, SplitStatus
from payments.models.splits import LegKind

ReceiptKind = Literal["sale", "refund"]

# A sale has a receipt once the customer's payment arrived, whatever forwarding is doing: the customer
# paid. Pending, expired and cancelled sales have none (their links answer like unknown ones).
RECEIPT_STATUSES = frozenset({SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.COMPLETED, SplitStatus.FAILED})
_TITLES: dict[str, str] = {"sale": "Receipt", "refund": "Refund receipt"}
_CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptLine:
    """One amount: sats (an integer) and, when the sale had a display currency, its value there."""

    label: str
    sats: int
    display: str = ""  # e.g. "12.50 USD"; empty when the sale was priced in sats only

    @property
    def sats_text(self) -> str:
        return format_sats(self.sats)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptDocument:
    kind: ReceiptKind
    merchant_name: str
    merchant_address: tuple[str, ...]
    issued_at: datetime  # local time
    reference: str  # short, printed for the merchant to find the sale (the payment hash's start)
    memo: str
    lines: tuple[ReceiptLine, ...]  # the parts (sale, tip), before the total
    total: ReceiptLine
    tipped_staff: tuple[ReceiptLine, ...]  # one line per staff member sharing the tip
    proof: tuple[tuple[str, str], ...]  # (label, value): payment hash, preimage
    footer: str
    url: str  # this receipt's own absolute link (its QR code)
    status_note: str = ""
    reason: str = ""  # a refund's reason, as the merchant gave it

    @property
    def title(self) -> str:
        return _TITLES[self.kind]


def format_sats(sats: int) -> str:
    return f"{sats:,} sats"


def format_display(amount: Decimal | None, currency: str) -> str:
    """``12.50 USD``; empty for no amount or a BTC-priced sale (its sats say it all)."""
    if amount is None or not currency or currency == "BTC":
        return ""
    return f"{amount.quantize(_CENT):,} {currency}"


def address_lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def sale_receipt_document(*, split: PaymentSplit, url: str) -> ReceiptDocument:
    """The receipt of a paid sale (``split.status`` in ``RECEIPT_STATUSES``). Reads the merchant and
    the tip legs; ``url`` is the receipt's absolute link."""
    merchant = split.merchant
    currency = split.display_currency
    base_d, tip_d = split.base_amount_display, split.tip_amount_display
    total_d = base_d + tip_d if base_d is not None and tip_d is not None else None
    tip_label = "Tip"
    if split.tip_percent is not None and split.tip_amount:
        tip_label = f"Tip ({split.tip_percent.normalize():f}%)"
    lines = [ReceiptLine(label="Sale", sats=split.base_amount, display=format_display(base_d, currency))]
    if split.tip_amount:
        lines.append(ReceiptLine(label=tip_label, sats=split.tip_amount, display=format_display(tip_d, currency)))
    # Display names only: a staff member's username or Lightning address is not the customer's business.
    tipped = tuple(
        ReceiptLine(label=leg.staff.display_name if leg.staff else "Staff", sats=leg.amount)
        for leg in split.legs.filter(kind=LegKind.TIP).select_related("staff").order_by("pk")
    )
    proof = [("Payment hash", split.payment_hash)]
    if split.preimage:
        proof.append(("Preimage", split.preimage))
    return ReceiptDocument(
        kind="sale",
        merchant_name=merchant.name,
        merchant_address=address_lines(merchant.receipt_address),
        issued_at=timezone.localtime(split.paid_at or split.created_at),
        reference=split.payment_hash[:12],
        memo=split.memo,
        lines=tuple(lines),
        total=ReceiptLine(label="Total", sats=split.total_amount, display=format_display(total_d, currency)),
        tipped_staff=tipped,
        proof=tuple(proof),
        footer=merchant.receipt_footer,
        url=url,
        status_note="Paid with Lightning",
    )


def refund_receipt_document(*, refund: Refund, url: str) -> ReceiptDocument:
    """The receipt of a paid refund (``refund.status == PAID``): the sale's reference, the refunded base
    and tip parts (they sum to the total: the database checks it), the reason and the payout's proof.
    The payout's preimage is shown when stored: it is the customer's proof that their invoice was paid."""
    split = refund.split
    merchant = split.merchant
    lines = [ReceiptLine(label="Refund of the sale", sats=refund.base_part_sats)]
    if refund.tip_refunded:
        lines.append(ReceiptLine(label="Refund of the tip", sats=refund.tip_part_sats))
    proof: list[tuple[str, str]] = []
    if refund.status == RefundStatus.PAID and refund.payout_hash:
        proof.append(("Payment hash", refund.payout_hash))
        if refund.payout_preimage:
            proof.append(("Preimage", refund.payout_preimage))
    return ReceiptDocument(
        kind="refund",
        merchant_name=merchant.name,
        merchant_address=address_lines(merchant.receipt_address),
        issued_at=timezone.localtime(refund.paid_at or refund.created_at),
        reference=split.payment_hash[:12],
        memo="",
        lines=tuple(lines),
        total=ReceiptLine(label="Total refunded", sats=refund.amount_sats),
        tipped_staff=(),
        proof=tuple(proof),
        footer=merchant.receipt_footer,
        url=url,
        status_note="Refunded with Lightning" if refund.status == RefundStatus.PAID else refund.get_status_display(),
        reason=refund.reason,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class PaperSize:
    name: str  # "58", "80", "a4": the ``paper`` query parameter
    label: str
    columns: int  # characters per line on a thermal printer's font A (0: not a thermal roll)


PAPER_SIZES: dict[str, PaperSize] = {
    "58": PaperSize(name="58", label="58 mm", columns=32),
    "80": PaperSize(name="80", label="80 mm", columns=48),
    "a4": PaperSize(name="a4", label="A4", columns=0),
}
DEFAULT_PAPER = "80"
THERMAL_PAPERS = tuple(name for name, size in PAPER_SIZES.items() if size.columns)
