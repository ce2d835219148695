"""A paid refund's own receipt under its sale's token (``/r/<token>/refunds/<id>/``, ESC/POS, QR): the
refunded parts, reason and the payout's proof, nothing secret; 404 for a refund of another sale or one
not paid yet. The sale's receipt links its paid refunds' receipts and "Add a tip" (screen only)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import PaymentSplit, PayoutState, PayoutVia, Refund, RefundStatus, SplitStatus
from payments.receipts.document import refund_receipt_document
from payments.services.refund_payouts import refund_pay
from tests.dashboard.refund_support import refund_form
from tests.escpos_text import escpos_to_text
from tests.payments.refunds.conftest import MakeSale, Shop, customer, make_sale, shop  # noqa: F401  (fixtures)
from tests.receipt_support import make_tipped_sale

pytestmark = pytest.mark.django_db


def _refund(split: PaymentSplit, *, status: str = RefundStatus.PAID, base: int = 400, tip: int = 150) -> Refund:
    """A refund row as the refund services leave it (the flow itself is tests/payments/refunds')."""
    paid = status == RefundStatus.PAID
    return Refund.objects.create(
        split=split,
        merchant=split.merchant,
        requested_by="merchant:test",
        amount_sats=base + tip,
        base_part_sats=base,
        tip_part_sats=tip,
        tip_refunded=tip > 0,
        reason="Cold coffee",
        status=status,
        funding_payment_hash=secrets.token_hex(32),
        funding_external_id=f"refund-{uuid.uuid4().hex}",
        funding_payment_request="lnbc5500n1fundingrequest",
        funding_expires_at=timezone.now() + timedelta(minutes=15),
        claim_token=secrets.token_urlsafe(24),
        claim_k1=secrets.token_hex(32),
        payout_via=PayoutVia.INVOICE if paid else PayoutVia.NONE,
        payout_state=PayoutState.SUCCEEDED if paid else "",
        payout_request="lnbc5500n1customerinvoice" if paid else "",
        payout_hash=secrets.token_hex(32) if paid else None,
        payout_preimage=secrets.token_hex(32) if paid else "",
        paid_at=timezone.make_aware(datetime(2026, 11, 30, 15, 20)) if paid else None,
    )


def test_a_paid_refund_has_its_receipt(client: Client) -> None:
    sale = make_tipped_sale()
    refund = _refund(sale)

    response = client.get(f"/r/{sale.receipt_token}/refunds/{refund.pk}/")

    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    html = response.content.decode()
    for text in (
        "Refund receipt",
        "Corner Cafe",
        "2026-11-30 15:20",
        sale.payment_hash[:12],
        "Refund of the sale",
        "400 sats",
        "Refund of the tip",
        "150 sats",
        "Total refunded",
        "550 sats",
        "Cold coffee",
        "Refunded with Lightning",
        refund.payout_hash,
        refund.payout_preimage,
    ):
        assert text in html, text
    for secret in (refund.funding_payment_request, refund.payout_request, refund.claim_token, refund.claim_k1):
        assert secret not in html
    assert "Tip shared with" not in html and "Add a tip" not in html
    assert f"/r/{sale.receipt_token}/refunds/{refund.pk}/qr.svg" in html
    qr = client.get(f"/r/{sale.receipt_token}/refunds/{refund.pk}/qr.svg")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/svg+xml"


@pytest.mark.parametrize("columns", [32, 48])
def test_a_refund_receipt_prints_as_escpos(client: Client, columns: int) -> None:
    sale = make_tipped_sale()
    refund = _refund(sale)
    paper = {32: "58", 48: "80"}[columns]

    response = client.get(f"/r/{sale.receipt_token}/refunds/{refund.pk}/receipt.escpos", {"paper": paper})

    assert response.status_code == 200
    assert f'filename="refund-{sale.payment_hash[:12]}.escpos"' in response["Content-Disposition"]
    text, qr_codes = escpos_to_text(response.content)
    assert qr_codes == [f"http://testserver/r/{sale.receipt_token}/refunds/{refund.pk}/".encode()]
    assert "Refund receipt" in text and "Reason: Cold coffee" in text and "550 sats" in text
    assert all(len(line) <= columns for line in text.splitlines())
    assert refund.funding_payment_request not in text and refund.claim_token not in text


def test_refund_receipts_only_for_paid_refunds_of_this_sale(client: Client) -> None:
    sale, other_sale = make_tipped_sale(), make_tipped_sale()
    others = _refund(other_sale)
    unpaid = {status: _refund(sale, status=status, base=10, tip=0) for status in (
        RefundStatus.AWAITING_FUNDING, RefundStatus.FUNDED, RefundStatus.FAILED, RefundStatus.CANCELLED
    )}  # fmt: skip

    for refund in [others, *unpaid.values()]:
        for suffix in ("", "receipt.escpos?paper=80", "qr.svg"):
            response = client.get(f"/r/{sale.receipt_token}/refunds/{refund.pk}/{suffix}")
            assert response.status_code == 404, (refund.status, suffix)
    assert client.get(f"/r/{sale.receipt_token}/refunds/99999999999999999999/").status_code == 404
    assert client.get(f"/r/{secrets.token_urlsafe(32)}/refunds/{others.pk}/").status_code == 404
    assert client.get(f"/r/{other_sale.receipt_token}/refunds/{others.pk}/").status_code == 200


def test_refund_receipt_bad_paper_is_400_naming_it(client: Client) -> None:
    sale = make_tipped_sale()
    refund = _refund(sale)
    response = client.get(f"/r/{sale.receipt_token}/refunds/{refund.pk}/receipt.escpos", {"paper": "a4"})
    assert response.status_code == 400 and response.content.decode().startswith("paper:")


def test_the_sale_receipt_links_add_a_tip_and_its_paid_refunds(client: Client) -> None:
    sale = make_tipped_sale()
    paid = _refund(sale, base=100, tip=0)
    unpaid = _refund(sale, status=RefundStatus.AWAITING_FUNDING, base=50, tip=0)

    html = client.get(f"/r/{sale.receipt_token}/").content.decode()

    nav = html[html.index('<nav class="receipt-links no-print"') :]
    assert f'href="/r/{sale.receipt_token}/tip/" id="add-tip">Add a tip</a>' in nav
    assert f'href="/r/{sale.receipt_token}/refunds/{paid.pk}/"' in nav and "100 sats refunded" in nav
    assert f"/refunds/{unpaid.pk}/" not in html
    assert html.index("</article>") < html.index('<nav class="receipt-links')  # outside the printed receipt


@pytest.mark.parametrize("status", [SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.FAILED])
def test_no_tip_link_before_the_sale_completed(client: Client, status: str) -> None:
    sale = make_tipped_sale()
    PaymentSplit.objects.filter(pk=sale.pk).update(status=status)

    html = client.get(f"/r/{sale.receipt_token}/").content.decode()

    assert "Add a tip" not in html and "/tip/" not in html


def test_the_dashboard_refund_page_links_the_receipt_once_paid(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    shop: Shop,  # noqa: F811
    customer: Callable[[int], str],  # noqa: F811
) -> None:
    owner = Client()
    owner.force_login(shop.merchant.user)
    split = make_sale()
    owner.post(f"/transactions/{split.payment_hash}/refund/", refund_form({"amount_sats": "300", "reason": "spilled"}))
    refund = Refund.objects.get()
    assert "Refund receipt" not in owner.get(f"/refunds/{refund.pk}/").content.decode()
    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    owner.get(f"/refunds/{refund.pk}/")  # polls the funding
    owner.post(f"/refunds/{refund.pk}/payout/", {"payment_request": customer(300)})
    assert refund_pay(refund_id=refund.pk) == "succeeded"

    page = owner.get(f"/refunds/{refund.pk}/").content.decode()

    split.refresh_from_db()
    link = f"/r/{split.receipt_token}/refunds/{refund.pk}/"
    assert split.receipt_token and link in page
    receipt = Client().get(link).content.decode()  # public: no login
    refund.refresh_from_db()
    assert refund.payout_hash and refund.payout_hash in receipt and "spilled" in receipt
    assert refund.payout_request not in receipt and refund.claim_token not in receipt
    assert link in Client().get(f"/r/{split.receipt_token}/").content.decode()


def test_the_document_sums_and_omits_the_tip_line_when_the_tip_was_kept() -> None:
    sale = make_tipped_sale()
    refund = _refund(sale, base=700, tip=0)

    document = refund_receipt_document(refund=refund, url="https://pos.example/r/x/refunds/1/")

    assert document.kind == "refund" and document.title == "Refund receipt"
    assert [(line.label, line.sats) for line in document.lines] == [("Refund of the sale", 700)]
    assert document.total.sats == sum(line.sats for line in document.lines) == refund.amount_sats
    assert document.proof == (("Payment hash", refund.payout_hash), ("Preimage", refund.payout_preimage))
    assert document.reference == sale.payment_hash[:12] and document.tipped_staff == ()
