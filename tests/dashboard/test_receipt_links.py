"""Where the merchant finds receipts: the web POS's success screen (through the status it polls),
Transactions (a link per paid sale) and a sale's page (reprint on any paper, a token made on demand)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from payments import store
from payments.models import Merchant, PaymentSplit, SplitStatus
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _sale(merchant: Merchant, status: str = SplitStatus.COMPLETED) -> PaymentSplit:
    return PaymentSplitFactory(merchant=merchant, status=status, receipt_token=secrets.token_urlsafe(32))


def test_web_pos_poll_gives_the_receipt_link_once_paid(client_a: Client, merchant: Merchant) -> None:
    # the web POS polls the invoice status with its session; the success screen shows what it returns
    pending = _sale(merchant, SplitStatus.PENDING)
    paid = _sale(merchant, SplitStatus.PAID)
    store.put(pending)
    store.put(paid)
    assert client_a.get(f"/api/v1/invoices/{pending.payment_hash}").json()["receipt_url"] is None
    assert client_a.get(f"/api/v1/invoices/{paid.payment_hash}").json()["receipt_url"] == f"/r/{paid.receipt_token}/"

    page = client_a.get("/").content.decode()
    assert 'id="receipt-qr"' in page and 'id="print-receipt"' in page
    script = Path(str(finders.find("dashboard/pos.js"))).read_text()
    assert "receipt_url" in script and 'url + "qr.svg"' in script and "print=1" in script


def test_transactions_link_each_paid_sale_to_its_receipt(client_a: Client, merchant: Merchant) -> None:
    paid = _sale(merchant)
    legacy = _sale(merchant)
    PaymentSplit.objects.filter(pk=legacy.pk).update(receipt_token=None)
    pending = _sale(merchant, SplitStatus.PENDING)

    html = client_a.get("/transactions/").content.decode()

    assert f"/r/{paid.receipt_token}/" in html and f"/r/{paid.receipt_token}/?print=1" in html
    assert f"/transactions/{legacy.payment_hash}/#receipt" in html
    assert pending.receipt_token not in html


def test_a_sales_page_reprints_and_makes_a_missing_token(client_a: Client, merchant: Merchant) -> None:
    legacy = _sale(merchant)
    PaymentSplit.objects.filter(pk=legacy.pk).update(receipt_token=None)

    html = client_a.get(f"/transactions/{legacy.payment_hash}/").content.decode()

    legacy.refresh_from_db()
    assert legacy.receipt_token
    for paper in ("58", "80", "a4"):
        assert f"/r/{legacy.receipt_token}/?paper={paper}&amp;print=1" in html
    assert f"/r/{legacy.receipt_token}/receipt.escpos" in html
    assert Client().get(f"/r/{legacy.receipt_token}/").status_code == 200


def test_an_unpaid_sales_page_has_no_receipt(client_a: Client, merchant: Merchant) -> None:
    pending = _sale(merchant, SplitStatus.PENDING)
    html = client_a.get(f"/transactions/{pending.payment_hash}/").content.decode()
    assert 'id="receipt"' not in html and pending.receipt_token not in html
