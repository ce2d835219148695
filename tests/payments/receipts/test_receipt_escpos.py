"""The receipt document of a tipped split sale and its ESC/POS bytes, decoded back to text."""

from __future__ import annotations

import pytest
from django.utils import timezone

from payments.models import PaymentSplit
from payments.receipts.document import ReceiptDocument, ReceiptLine, sale_receipt_document
from payments.receipts.escpos import receipt_escpos, two_columns
from tests.escpos_text import escpos_to_text

pytestmark = pytest.mark.django_db
URL = "https://pos.example/r/token/"


def test_the_document_of_a_tipped_split_sale(tipped_sale: PaymentSplit) -> None:
    # when
    document = sale_receipt_document(split=tipped_sale, url=URL)

    # then: every part of the sale, in sats and in the display currency, and the proof
    assert document.kind == "sale" and document.title == "Receipt"
    assert document.merchant_name == "Corner Cafe"
    assert document.merchant_address == ("12 Harbour Street", "Port Town")
    assert [(line.label, line.sats, line.display) for line in document.lines] == [
        ("Sale", 10_000, "6.50 USD"),
        ("Tip (15%)", 1_500, "0.98 USD"),
    ]
    assert (document.total.sats, document.total.display) == (11_500, "7.48 USD")
    assert [(s.label, s.sats) for s in document.tipped_staff] == [("Dana", 900), ("Eli", 600)]
    assert sum(s.sats for s in document.tipped_staff) == tipped_sale.tip_amount
    assert document.proof == (("Payment hash", tipped_sale.payment_hash), ("Preimage", tipped_sale.preimage))
    assert document.memo == "Table 4" and document.footer == "Thank you, come again"
    assert f"{document.issued_at:%Y-%m-%d %H:%M}" == "2026-11-30 14:03"


def test_a_sale_without_a_preimage_shows_the_hash_only(tipped_sale: PaymentSplit) -> None:
    tipped_sale.preimage = ""
    document = sale_receipt_document(split=tipped_sale, url=URL)
    assert [label for label, _ in document.proof] == ["Payment hash"]


def test_a_sats_priced_sale_has_no_display_amounts(tipped_sale: PaymentSplit) -> None:
    tipped_sale.display_currency = "BTC"
    document = sale_receipt_document(split=tipped_sale, url=URL)
    assert all(line.display == "" for line in (*document.lines, document.total))


@pytest.mark.parametrize("columns", [32, 48])
def test_escpos_bytes_decode_to_the_receipt_lines(tipped_sale: PaymentSplit, columns: int) -> None:
    # given
    document = sale_receipt_document(split=tipped_sale, url=URL)

    # when
    data = receipt_escpos(document, columns=columns)
    text, qr_codes = escpos_to_text(data)
    lines = text.split("\n")

    # then: no line is wider than the roll, and the receipt's lines are all there
    assert max(len(line) for line in lines) <= columns
    assert data.startswith(b"\x1b@") and data.endswith(b"\x1dV\x00")  # initialised, then cut
    assert "Corner Cafe" in lines and "12 Harbour Street" in lines and "Port Town" in lines
    assert "Receipt" in lines
    assert "Date" + " " * (columns - 4 - 16) + "2026-11-30 14:03" in lines
    assert "Memo: Table 4" in lines
    assert two_columns("Sale", "10,000 sats", columns)[0] in lines
    assert two_columns("Tip (15%)", "1,500 sats", columns)[0] in lines
    assert "0.98 USD".rjust(columns) in lines
    assert two_columns("Total", "11,500 sats", columns)[0] in lines
    assert "7.48 USD".rjust(columns) in lines
    assert two_columns("  Dana", "900 sats", columns)[0] in lines
    assert two_columns("  Eli", "600 sats", columns)[0] in lines
    # the proof, wrapped to the roll and whole again when joined
    assert "".join(lines[lines.index("Payment hash:") + 1 :][: -(-64 // columns)]) == tipped_sale.payment_hash
    assert "".join(lines[lines.index("Preimage:") + 1 :][: -(-64 // columns)]) == tipped_sale.preimage
    assert "Thank you, come again" in lines
    assert qr_codes == [URL.encode()]


def test_non_ascii_text_survives_the_printer_code_pages() -> None:
    document = ReceiptDocument(
        kind="refund",
        merchant_name="Café Zoë",
        merchant_address=("Straße 5",),
        issued_at=timezone.now(),
        reference="abc",
        memo="crème brûlée",
        lines=(ReceiptLine(label="Refund", sats=500),),
        total=ReceiptLine(label="Total refunded", sats=500),
        tipped_staff=(),
        proof=(),
        footer="",
        url=URL,
    )
    text, _ = escpos_to_text(receipt_escpos(document, columns=32))
    assert "Café Zoë" in text and "Straße 5" in text and "crème brûlée" in text
    assert "Refund receipt" in text  # the same renderer prints a refund's receipt
