"""Refunds from the cashier's view: a cashier allowed to refund refunds THIS terminal's completed sale
(funding QR, then the claim QR); not allowed is a 403, another terminal's sale a 404, bad input a 400
naming the field; in each refusal nothing is written."""

from __future__ import annotations

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import PaymentSplit, Refund, RefundStatus, Staff, Terminal
from payments.services.cashier_pins import cashier_pin_set
from tests.dashboard.refund_support import refund_form
from tests.factories import StaffFactory, TerminalFactory
from tests.payments.refunds.conftest import MakeSale, Shop, make_sale, shop  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
LOGIN = "/cashier/login/"


@pytest.fixture
def till(shop: Shop) -> Terminal:  # noqa: F811
    return TerminalFactory(merchant=shop.merchant, name="Front till")


def _cashier(client: Client, terminal: Terminal, *, can_refund: bool) -> Staff:
    staff = StaffFactory(merchant=terminal.merchant, display_name="Dana", blink_username=f"dana{terminal.pk}")
    cashier_pin_set(
        merchant=terminal.merchant, terminal_id=terminal.pk, staff_id=staff.pk, pin="2468", can_refund=can_refund
    )
    signed_in = client.post(
        f"{LOGIN}?terminal={terminal.key_prefix}", {"mode": "pin", "staff": staff.pk, "pin": "2468"}
    )
    assert signed_in.status_code == 302
    return staff


def _on(sale: PaymentSplit, terminal: Terminal) -> PaymentSplit:
    PaymentSplit.objects.filter(pk=sale.pk).update(terminal=terminal)
    sale.refresh_from_db()
    return sale


def test_allowed_pin_refunds_its_terminals_sale(
    client: Client,
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    till: Terminal,
) -> None:
    sale = _on(make_sale(), till)
    dana = _cashier(client, till, can_refund=True)
    url = f"/cashier/refund/{sale.payment_hash}/"
    assert url in client.get("/cashier/").content.decode()
    assert client.get(url).status_code == 200

    created = client.post(url, refund_form({"amount_sats": "300", "reason": "spilled"}))

    assert created.status_code == 302
    refund = Refund.objects.get()
    assert created["Location"] == f"/cashier/refunds/{refund.pk}/"
    assert (refund.split_id, refund.amount_sats, refund.terminal_id) == (sale.pk, 300, till.pk)
    assert refund.requested_by == f"terminal:{till.pk}:staff:{dana.pk}"
    page = client.get(created["Location"]).content.decode()
    assert refund.funding_payment_request in page and f"/cashier/refunds/{refund.pk}/funding.svg" in page
    assert client.get(f"/cashier/refunds/{refund.pk}/funding.svg")["Content-Type"] == "image/svg+xml"
    assert client.get(f"/cashier/refunds/{refund.pk}/claim.svg").status_code == 404  # not funded yet

    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)  # the merchant funds it
    page = client.get(f"/cashier/refunds/{refund.pk}/").content.decode()  # the page polls once
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FUNDED
    assert "LNURL1" in page and refund.funding_payment_request not in page
    assert client.get(f"/cashier/refunds/{refund.pk}/claim.svg").status_code == 200


def test_cashier_not_allowed_is_403_and_nothing_written(
    client: Client,
    make_sale: MakeSale,  # noqa: F811
    till: Terminal,
) -> None:
    sale = _on(make_sale(), till)
    _cashier(client, till, can_refund=False)
    url = f"/cashier/refund/{sale.payment_hash}/"

    assert client.get(url).status_code == 403
    assert client.post(url, refund_form({"amount_sats": "300", "reason": "spilled"})).status_code == 403
    assert not Refund.objects.exists()
    assert "/cashier/refund/" not in client.get("/cashier/").content.decode()


def test_refund_pages_close_when_the_permission_is_withdrawn(
    client: Client,
    make_sale: MakeSale,  # noqa: F811
    till: Terminal,
) -> None:
    sale = _on(make_sale(), till)
    client.post(LOGIN, {"mode": "key", "key": till.plain_key})
    assert client.get(f"/cashier/refund/{sale.payment_hash}/").status_code == 403  # the terminal may not
    Terminal.objects.filter(pk=till.pk).update(can_refund=True)
    client.post(f"/cashier/refund/{sale.payment_hash}/", refund_form({"reason": "spilled"}))
    refund = Refund.objects.get()
    assert refund.requested_by == f"terminal:{till.pk}" and refund.amount_sats == 1000  # empty: the base left

    Terminal.objects.filter(pk=till.pk).update(can_refund=False)

    assert client.get(f"/cashier/refunds/{refund.pk}/").status_code == 403
    assert client.get(f"/cashier/refunds/{refund.pk}/funding.svg").status_code == 403


def test_another_terminals_sale_or_refund_is_404(
    client: Client,
    make_sale: MakeSale,  # noqa: F811
    shop: Shop,  # noqa: F811
    till: Terminal,
) -> None:
    other = TerminalFactory(merchant=shop.merchant)
    sale = _on(make_sale(), other)
    _cashier(client, till, can_refund=True)

    assert client.get(f"/cashier/refund/{sale.payment_hash}/").status_code == 404
    assert (
        client.post(
            f"/cashier/refund/{sale.payment_hash}/", refund_form({"amount_sats": "300", "reason": "x"})
        ).status_code
        == 404
    )
    assert not Refund.objects.exists()

    other_client = Client()
    _cashier(other_client, other, can_refund=True)
    other_client.post(f"/cashier/refund/{sale.payment_hash}/", refund_form({"amount_sats": "300", "reason": "x"}))
    refund = Refund.objects.get()
    assert client.get(f"/cashier/refunds/{refund.pk}/").status_code == 404
    assert client.get(f"/cashier/refunds/{refund.pk}/funding.svg").status_code == 404


def test_not_signed_in_goes_to_the_sign_in_page(
    client: Client,
    make_sale: MakeSale,  # noqa: F811
    till: Terminal,
) -> None:
    sale = _on(make_sale(), till)
    assert client.get(f"/cashier/refund/{sale.payment_hash}/")["Location"] == LOGIN


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount_sats": "0", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "abc", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "1151", "reason": "x", "tip_refunded": "on"}, "amount_sats"),
        ({"amount_sats": "1001", "reason": "x"}, "amount_sats"),
        ({"amount_sats": "10", "reason": ""}, "reason"),
        ({"amount_sats": "10", "reason": "x" * 501}, "reason"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_nothing_written(
    client: Client,
    make_sale: MakeSale,  # noqa: F811
    till: Terminal,
    data: dict[str, str],
    field: str,
) -> None:
    sale = _on(make_sale(), till)
    _cashier(client, till, can_refund=True)

    response = client.post(f"/cashier/refund/{sale.payment_hash}/", refund_form(data))

    assert response.status_code == 400
    assert response.context["form"].errors.get(field)
    assert 'class="field invalid"' in response.content.decode()
    assert not Refund.objects.exists()
