"""The public "add a tip" page (/r/<token>/tip/): a tip-only invoice linked to a completed sale, paid
at the fake Blink and forwarded to the sale's own tip recipient; bad input refused naming the field
with nothing written; only completed sales; rate-limited; no login needed."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from analytics.merchant_reports import tips_by_staff
from fakeblink import FakeBlink
from payments.models import PaymentLeg, PaymentSplit, SplitKind, SplitStatus
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from tests.factories import MerchantFactory, StaffFactory, paid_split

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale(fake_blink: FakeBlink) -> PaymentSplit:
    merchant = MerchantFactory(
        blink_username="tipshop", wallet_id=fake_blink.add_account("tipshop"), display_currency="USD"
    )
    staff = StaffFactory(merchant=merchant, blink_username="tipdana", wallet_id=fake_blink.add_account("tipdana"))
    return paid_split(merchant, staff=staff, base=2000, tip=0, receipt_token="tok-" + "a" * 40)


def _url(sale: PaymentSplit) -> str:
    return f"/r/{sale.receipt_token}/tip/"


def test_a_tip_added_from_the_receipt_goes_to_the_sales_staff(sale: PaymentSplit, fake_blink: FakeBlink) -> None:
    client = Client()  # not signed in

    # given the page, then a 10 % tip chosen
    page = client.get(_url(sale))
    assert page.status_code == 200 and b"Add a tip" in page.content
    response = client.post(_url(sale), {"tip_percent": "10"})

    # then a tip-only split for 200 sats is linked to the sale, and its page shows the invoice
    assert response.status_code == 302
    tip = PaymentSplit.objects.get(tip_for=sale)
    assert (tip.kind, tip.base_amount, tip.tip_amount, tip.staff_id) == (SplitKind.TIP_ONLY, 0, 200, sale.staff_id)
    assert response["Location"] == f"/r/{sale.receipt_token}/tip/{tip.receipt_token}/"
    invoice_page = client.get(response["Location"])
    assert invoice_page.status_code == 200 and b"<svg" in invoice_page.content
    assert b"<script>" not in invoice_page.content and b"dashboard/tip" in invoice_page.content
    status_url = f"/r/{sale.receipt_token}/tip/{tip.receipt_token}/status"
    assert client.get(status_url).json() == {"status": "pending", "tip_sats": 200}

    # when the customer pays and the forward runs, the sale's staff member gets it all
    fake_blink.pay_invoice_as_customer(tip.payment_hash)
    assert payment_detected(payment_hash=tip.payment_hash, amount_sats=200, source="test") == "paid"
    assert forward_split(split_id=tip.pk) == "completed"
    assert fake_blink.balance(sale.staff.wallet_id) == 200
    assert [(leg.kind, leg.amount) for leg in PaymentLeg.objects.filter(split=tip)] == [("tip", 200)]
    assert client.get(status_url).json()["status"] == SplitStatus.COMPLETED

    # and the merchant sees it as a tip: in the staff member's totals and linked to the sale
    (dana,) = [t for t in tips_by_staff(merchant=sale.merchant) if t.staff.pk == sale.staff_id]
    assert (dana.earned, dana.paid_out, dana.count) == (200, 200, 1)
    owner = Client()
    owner.force_login(sale.merchant.user)
    detail = owner.get(f"/transactions/{tip.payment_hash}/").content.decode()
    assert "tip only" in detail and f"/transactions/{sale.payment_hash}/" in detail


def test_an_amount_in_sats_is_taken_as_is(sale: PaymentSplit, fake_blink: FakeBlink) -> None:
    assert Client().post(_url(sale), {"amount_sats": "321"}).status_code == 302
    assert PaymentSplit.objects.get(tip_for=sale).tip_amount == 321


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "amount_sats"),
        ({"tip_percent": "10", "amount_sats": "5"}, "amount_sats"),
        ({"tip_percent": "abc"}, "tip_percent"),
        ({"tip_percent": "101"}, "tip_percent"),
        ({"tip_percent": "0"}, "tip_percent"),
        ({"tip_percent": "10.001"}, "tip_percent"),
        ({"amount_sats": "0"}, "amount_sats"),
        ({"amount_sats": "-5"}, "amount_sats"),
        ({"amount_sats": "1.5"}, "amount_sats"),
        ({"amount_sats": "99999999"}, "amount_sats"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    sale: PaymentSplit, fake_blink: FakeBlink, data: dict[str, str], field: str
) -> None:
    requests_before = fake_blink.request_count
    response = Client().post(_url(sale), data)
    assert response.status_code == 400
    # the error is rendered inside the field's label
    label = re.search(rf'<label class="field invalid">[^<]*<input[^>]*name="{field}"', response.content.decode())
    assert label is not None, response.content.decode()[-1500:]
    assert not PaymentSplit.objects.filter(tip_for=sale).exists()
    assert fake_blink.request_count == requests_before


@pytest.mark.parametrize("status", [SplitStatus.PENDING, SplitStatus.PROCESSING, SplitStatus.EXPIRED])
def test_only_a_completed_sale_takes_a_tip(sale: PaymentSplit, fake_blink: FakeBlink, status: str) -> None:
    PaymentSplit.objects.filter(pk=sale.pk).update(status=status)
    client = Client()
    assert b"once the payment has completed" in client.get(_url(sale)).content
    assert client.post(_url(sale), {"tip_percent": "10"}).status_code == 409
    assert not PaymentSplit.objects.filter(tip_for=sale).exists()


def test_unknown_tokens_are_404(sale: PaymentSplit) -> None:
    client = Client()
    assert client.get("/r/nope/tip/").status_code == 404
    assert client.post("/r/nope/tip/", {"tip_percent": "10"}).status_code == 404
    assert client.get(f"/r/{sale.receipt_token}/tip/nope/status").status_code == 404
    assert not PaymentSplit.objects.filter(tip_for=sale).exists()


def test_a_tip_cannot_be_tipped(sale: PaymentSplit, fake_blink: FakeBlink) -> None:
    Client().post(_url(sale), {"amount_sats": "50"})
    tip = PaymentSplit.objects.get(tip_for=sale)
    PaymentSplit.objects.filter(pk=tip.pk).update(status=SplitStatus.COMPLETED)
    assert Client().get(f"/r/{tip.receipt_token}/tip/").status_code == 404


def test_unpaid_tips_per_sale_are_bounded(sale: PaymentSplit, fake_blink: FakeBlink) -> None:
    client = Client()
    codes = [client.post(_url(sale), {"amount_sats": "10"}).status_code for _ in range(4)]
    assert codes == [302, 302, 302, 400]
    assert PaymentSplit.objects.filter(tip_for=sale).count() == 3


def test_the_page_is_rate_limited(sale: PaymentSplit, fake_blink: FakeBlink, settings) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "receipt_tip": "1/min"}
    client = Client()
    assert client.post(_url(sale), {"amount_sats": "10"}).status_code == 302
    limited = client.post(_url(sale), {"amount_sats": "10"})
    assert limited.status_code == 429 and limited["Retry-After"]
    assert PaymentSplit.objects.filter(tip_for=sale).count() == 1
