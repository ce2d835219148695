"""The dashboard's refund pages: the form on a completed sale, the refund page with its QR codes, paying
to a pasted invoice, cancelling; bad input is a 400 naming the field with nothing written; another
merchant's sale or refund is a 404. The terminal's refund permission is toggled in settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import Refund, RefundStatus
from payments.services.refund_payouts import refund_pay
from tests.dashboard.refund_support import refund_form
from tests.factories import MerchantFactory, TerminalFactory, UserFactory
from tests.payments.refunds.conftest import MakeSale, Shop, customer, make_sale, shop  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(shop: Shop) -> Client:  # noqa: F811
    client = Client()
    client.force_login(shop.merchant.user)
    return client


def test_refund_from_the_sale_page_to_the_customers_invoice(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
    customer: Callable[[int], str],  # noqa: F811
) -> None:
    split = make_sale()
    page = owner.get(f"/transactions/{split.payment_hash}/")
    assert page.status_code == 200 and f"/transactions/{split.payment_hash}/refund/" in page.content.decode()

    created = owner.post(
        f"/transactions/{split.payment_hash}/refund/",
        refund_form({"amount_sats": "300", "reason": "spilled", "tip_refunded": ""}),
    )
    assert created.status_code == 302
    refund = Refund.objects.get()
    funding = owner.get(f"/refunds/{refund.pk}/")
    assert funding.status_code == 200 and refund.funding_payment_request in funding.content.decode()
    assert owner.get(f"/refunds/{refund.pk}/funding.svg")["Content-Type"] == "image/svg+xml"
    assert owner.get(f"/refunds/{refund.pk}/claim.svg").status_code == 404  # not funded yet

    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    claim_page = owner.get(f"/refunds/{refund.pk}/").content.decode()  # the page polls Blink once
    assert "LNURL1" in claim_page and owner.get(f"/refunds/{refund.pk}/claim.svg").status_code == 200

    bad = owner.post(f"/refunds/{refund.pk}/payout/", {"payment_request": customer(301)})
    assert bad.status_code == 400 and "exactly 300 sats" in bad.content.decode()
    paid = owner.post(f"/refunds/{refund.pk}/payout/", {"payment_request": customer(300)})
    assert paid.status_code == 302
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PAID


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount_sats": "0", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "abc", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "1001", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "10", "reason": ""}, "reason"),
        ({"amount_sats": "10", "reason": "x" * 501}, "reason"),
    ],
)
def test_bad_refund_form_input_is_a_400_naming_the_field(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
    data: dict[str, str],
    field: str,
) -> None:
    split = make_sale()
    response = owner.post(f"/transactions/{split.payment_hash}/refund/", refund_form(data))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Refund.objects.exists()


def test_another_merchants_sale_and_refund_are_404(fake_blink: FakeBlink, make_sale: MakeSale) -> None:  # noqa: F811
    split = make_sale()
    stranger = Client()
    stranger.force_login(MerchantFactory(user=UserFactory()).user)
    assert stranger.get(f"/transactions/{split.payment_hash}/refund/").status_code == 404
    assert stranger.post(f"/transactions/{split.payment_hash}/refund/", refund_form({"reason": "x"})).status_code == 404
    assert stranger.get("/refunds/1/").status_code == 404
    assert not Refund.objects.exists()


def test_cancel_an_unfunded_refund(fake_blink: FakeBlink, make_sale: MakeSale, owner: Client) -> None:  # noqa: F811
    split = make_sale()
    owner.post(f"/transactions/{split.payment_hash}/refund/", refund_form({"reason": "changed mind"}))
    refund = Refund.objects.get()
    assert refund.amount_sats == 1000  # empty amount: the whole base (the tip stays)

    assert owner.post(f"/refunds/{refund.pk}/cancel/").status_code == 302
    refund.refresh_from_db()
    assert refund.status == RefundStatus.CANCELLED


def test_the_merchant_toggles_a_terminals_refund_permission(shop: Shop, owner: Client) -> None:  # noqa: F811
    terminal = TerminalFactory(merchant=shop.merchant)
    assert owner.post(f"/settings/terminals/{terminal.pk}/refunds/", {"allow": "1"}).status_code == 302
    terminal.refresh_from_db()
    assert terminal.can_refund
    assert owner.post(f"/settings/terminals/{terminal.pk}/refunds/", {"allow": "yes"}).status_code == 400
    assert owner.post(f"/settings/terminals/{terminal.pk}/refunds/", {"allow": "0"}).status_code == 302
    terminal.refresh_from_db()
    assert not terminal.can_refund
    other = TerminalFactory()
    assert owner.post(f"/settings/terminals/{other.pk}/refunds/", {"allow": "1"}).status_code == 404


def test_refunds_and_tip_adjustments_appear_in_reports_statements_and_csvs(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    shop: Shop,  # noqa: F811
    owner: Client,
    customer: Callable[[int], str],  # noqa: F811
) -> None:
    # given a sale whose whole amount, tip included, was refunded and paid to the customer
    split = make_sale(tips=(100, 50))
    owner.post(
        f"/transactions/{split.payment_hash}/refund/", refund_form({"reason": "refund all", "tip_refunded": "on"})
    )
    refund = Refund.objects.get()
    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    owner.get(f"/refunds/{refund.pk}/")
    owner.post(f"/refunds/{refund.pk}/payout/", {"payment_request": customer(1150)})
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    alice = shop.staff[0]

    # then the tips page and the statement show what is still to recover
    tips = owner.get("/tips/")
    row = next(r for r in tips.context["rows"] if r.staff.pk == alice.pk)
    assert (row.adjustments, row.to_recover) == (-100, 100)
    statement = owner.get(f"/tips/{alice.pk}/")
    assert [a.amount_sats for a in statement.context["adjustments"]] == [-100]
    assert 'id="tip-adjustments"' in statement.content.decode()
    lines = list(csv.DictReader(io.StringIO(owner.get(f"/tips/{alice.pk}/statement.csv").content.decode())))
    assert [(r["line"], r["tip_sats"]) for r in lines] == [("tip", "100"), ("refunded_tip", "-100")]

    # and the end of day, the refunds CSV and the transactions CSV carry the refund
    report = owner.get("/report/").context
    assert report["refunds"].paid_sats == 1150 and report["refunds"].paid_tip_sats == 150
    refunds = list(csv.DictReader(io.StringIO(owner.get("/transactions/refunds.csv").content.decode())))
    assert [(r["amount_sats"], r["tip_part_sats"], r["status"]) for r in refunds] == [("1150", "150", "paid")]
    sales = list(csv.DictReader(io.StringIO(owner.get("/transactions/export.csv").content.decode())))
    assert [r["refunded_sats"] for r in sales] == ["1150"]
    assert owner.get("/transactions/refunds.csv", {"date_from": "yesterday"}).status_code == 400
