"""The public receipt pages: contents, nothing else, not guessable, unpaid sales hidden, bad input."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from payments.models import PaymentSplit, SplitStatus
from payments.receipts.document import PAPER_SIZES, ReceiptDocument, ReceiptLine
from payments.services.receipts import receipt_token_ensure
from tests.escpos_text import escpos_to_text
from tests.factories import PaymentSplitFactory
from tests.receipt_support import make_tipped_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale() -> PaymentSplit:
    return make_tipped_sale()


def _url(split: PaymentSplit, suffix: str = "") -> str:
    return f"/r/{split.receipt_token}/{suffix}"


def test_receipt_page_shows_the_whole_sale(client: Client, sale: PaymentSplit) -> None:
    # when
    response = client.get(_url(sale))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "Corner Cafe",
        "12 Harbour Street",
        "Port Town",
        "Table 4",
        "10,000 sats",
        "6.50 USD",
        "Tip (15%)",
        "1,500 sats",
        "0.98 USD",
        "11,500 sats",
        "7.48 USD",
        "Dana",
        "900 sats",
        "Eli",
        "600 sats",
        sale.payment_hash,
        sale.preimage,
        "Thank you, come again",
        "2026-11-30 14:03",
    ):
        assert text in html, text
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"] and '<meta name="robots" content="noindex, nofollow">' in html
    assert "no-store" in response["Cache-Control"]
    assert "script-src 'self'" in response["Content-Security-Policy"] and "<script>" not in html


def test_receipt_reveals_nothing_else(client: Client, sale: PaymentSplit) -> None:
    # given: another sale of the same merchant, and the merchant's private fields
    other = make_tipped_sale()
    html = client.get(_url(sale)).content.decode()

    # then: no ids, no other sale, no link anywhere but this receipt's own resources
    assert other.payment_hash not in html and other.receipt_token not in html
    assert sale.merchant.blink_username not in html and sale.merchant.wallet_id not in html
    for leg in sale.legs.all():
        assert leg.recipient_username not in html and leg.recipient_wallet_id not in html
    assert sale.payment_request == "" or sale.payment_request not in html
    links = [part.split('"')[0] for part in html.split('href="')[1:]] + [
        part.split('"')[0] for part in html.split('src="')[1:]
    ]
    assert links and all(link.startswith(("?paper=", f"/r/{sale.receipt_token}/", "/static/")) for link in links), links
    assert "/transactions/" not in html and "/settings/" not in html and "/login/" not in html


def test_receipt_is_public_and_the_same_for_a_signed_in_owner(client_a: Client, client: Client) -> None:
    sale = make_tipped_sale()
    anonymous = client.get(_url(sale)).content
    # the dashboard's nav is not on the page even for a signed-in merchant
    assert b"Log out" not in client_a.get(_url(sale)).content and b"Log out" not in anonymous


@pytest.mark.parametrize(
    "token",
    [
        secrets.token_urlsafe(32),  # well formed, unknown
        "short",
        "x" * 200,
        "bad$chars+" * 4,
    ],
)
def test_unknown_tokens_are_404(client: Client, sale: PaymentSplit, token: str) -> None:
    for suffix in ("", "receipt.escpos", "qr.svg"):
        response = client.get(f"/r/{token}/{suffix}")
        assert response.status_code == 404
        assert response.content == b"No such receipt."


@pytest.mark.parametrize("status", [SplitStatus.PENDING, SplitStatus.EXPIRED, SplitStatus.CANCELLED])
def test_unpaid_sales_have_no_receipt(client: Client, status: str) -> None:
    split = PaymentSplitFactory(status=status, receipt_token=secrets.token_urlsafe(32))
    for suffix in ("", "receipt.escpos", "qr.svg"):
        response = client.get(_url(split, suffix))
        assert response.status_code == 404 and response.content == b"No such receipt."


@pytest.mark.parametrize("status", [SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.FAILED])
def test_paid_sales_being_forwarded_have_a_receipt(client: Client, status: str) -> None:
    split = PaymentSplitFactory(status=status, receipt_token=secrets.token_urlsafe(32))
    assert client.get(_url(split)).status_code == 200


def test_token_is_long_random_and_unrelated_to_the_sale(sale: PaymentSplit) -> None:
    other = make_tipped_sale()
    for split in (sale, other):
        assert split.receipt_token is not None and len(split.receipt_token) >= 43
        assert split.payment_hash[:8] not in split.receipt_token
    assert sale.receipt_token != other.receipt_token


def test_rows_without_a_token_get_one_once(sale: PaymentSplit) -> None:
    PaymentSplit.objects.filter(pk=sale.pk).update(receipt_token=None)
    sale.refresh_from_db()
    first = receipt_token_ensure(split=sale)
    again = receipt_token_ensure(split=PaymentSplit.objects.get(pk=sale.pk))
    assert first == again and len(first) >= 43


@pytest.mark.parametrize("paper", ["58", "80"])
def test_escpos_endpoint_bytes_decode_to_the_receipt(client: Client, sale: PaymentSplit, paper: str) -> None:
    response = client.get(_url(sale, "receipt.escpos"), {"paper": paper})
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    assert response["Referrer-Policy"] == "no-referrer"
    text, qr_codes = escpos_to_text(response.content)
    columns = {"58": 32, "80": 48}[paper]
    assert max(len(line) for line in text.split("\n")) <= columns
    assert "Corner Cafe" in text and "11,500 sats" in text and "Dana" in text and "Eli" in text
    assert qr_codes == [f"http://testserver/r/{sale.receipt_token}/".encode()]


def test_qr_encodes_the_receipt_link(client: Client, sale: PaymentSplit) -> None:
    response = client.get(_url(sale, "qr.svg"))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")


@pytest.mark.parametrize(
    ("suffix", "query", "field"),
    [
        ("", {"paper": "a5"}, "paper"),
        ("", {"paper": ""}, "paper"),
        ("", {"print": "yes"}, "print"),
        ("receipt.escpos", {"paper": "a4"}, "paper"),
        ("receipt.escpos", {"paper": "100"}, "paper"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: Client, sale: PaymentSplit, suffix: str, query: dict[str, str], field: str
) -> None:
    response = client.get(_url(sale, suffix), query)
    assert response.status_code == 400 and response.content.decode().startswith(f"{field}:")


@pytest.mark.parametrize("paper", ["58", "80", "a4"])
def test_each_paper_has_its_print_sheet(client: Client, sale: PaymentSplit, paper: str) -> None:
    html = client.get(_url(sale), {"paper": paper, "print": "1"}).content.decode()
    assert f"dashboard/receipt-{paper}" in html and f"paper-{paper}" in html and 'data-autoprint="1"' in html
    assert ("receipt.escpos" in html) == (paper != "a4")


def test_lookups_are_rate_limited_per_address(client: Client, sale: PaymentSplit, settings: Any) -> None:
    settings.RECEIPT_RATE_LIMIT = "3/min"
    answers = [client.get(f"/r/{secrets.token_urlsafe(32)}/").status_code for _ in range(3)]
    refused = client.get(_url(sale))
    assert answers == [404, 404, 404]
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_the_page_renders_a_refund_document_as_a_refund_receipt() -> None:
    # the refunds feature builds the same document with kind="refund"; the page needs nothing else
    document = ReceiptDocument(
        kind="refund",
        merchant_name="Corner Cafe",
        merchant_address=(),
        issued_at=timezone.now(),
        reference="abc123",
        memo="",
        lines=(ReceiptLine(label="Refund of sale abc123", sats=500, display="0.33 USD"),),
        total=ReceiptLine(label="Refunded", sats=500, display="0.33 USD"),
        tipped_staff=(),
        proof=(("Refund payment hash", "f" * 64),),
        footer="",
        url="https://pos.example/r/x/",
    )
    html = render_to_string(
        "dashboard/receipt.html",
        {"document": document, "paper": PAPER_SIZES["80"], "paper_sizes": PAPER_SIZES.values(),
         "paper_css": "dashboard/receipt-80.css", "qr_url": "/r/x/qr.svg", "escpos_url": ""},
    )  # fmt: skip
    assert "Refund receipt" in html and "Refund of sale abc123" in html and "kind-refund" in html
    assert "f" * 64 in html and "Tip shared with" not in html
