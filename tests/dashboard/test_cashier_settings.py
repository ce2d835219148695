"""The merchant's settings for receipts (address, closing line) and cashier PINs: saved through the
services, bad input a 400 naming the field with nothing written, another merchant's rows refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client

from payments.models import CashierPin, Merchant, Staff
from tests.factories import StaffFactory, TerminalFactory

pytestmark = pytest.mark.django_db


def test_receipt_details_are_saved(client_a: Client, merchant: Merchant) -> None:
    response = client_a.post(
        "/settings/receipts/", {"receipt_address": "1 Quay\r\nHarbour", "receipt_footer": "Merci!"}
    )
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert (merchant.receipt_address, merchant.receipt_footer) == ("1 Quay\nHarbour", "Merci!")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"receipt_address": "a\nb\nc\nd\ne", "receipt_footer": ""}, "receipt_address"),
        ({"receipt_address": "x" * 301, "receipt_footer": ""}, "receipt_address"),
        ({"receipt_address": "", "receipt_footer": "x" * 201}, "receipt_footer"),
    ],
)
def test_receipt_details_bad_input(client_a: Client, merchant: Merchant, data: dict[str, str], field: str) -> None:
    response = client_a.post("/settings/receipts/", data)
    assert response.status_code == 400 and response.context["receipt_form"].errors[field]
    merchant.refresh_from_db()
    assert merchant.receipt_address == "" and merchant.receipt_footer == ""


def test_pin_is_stored_hashed_and_can_be_replaced_and_removed(
    client_a: Client, merchant: Merchant, staff_a: Staff
) -> None:
    till = TerminalFactory(merchant=merchant)
    data = {"terminal": till.pk, "staff": staff_a.pk, "pin": "482913", "can_refund": "on"}
    assert client_a.post("/settings/cashier-pins/", data).status_code == 302
    pin = CashierPin.objects.get()
    assert pin.pin_hash != "482913" and check_password("482913", pin.pin_hash) and pin.can_refund
    page = client_a.get("/settings/").content.decode()
    assert f"/cashier/login/?terminal={till.key_prefix}" in page and "482913" not in page

    # replacing keeps one row, with the new PIN and grant
    client_a.post("/settings/cashier-pins/", {**data, "pin": "1234", "can_refund": ""})
    pin = CashierPin.objects.get()
    assert check_password("1234", pin.pin_hash) and not pin.can_refund

    assert client_a.post(f"/settings/cashier-pins/{pin.pk}/remove/").status_code == 302
    assert not CashierPin.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pin": "12"}, "pin"),
        ({"pin": "12ab"}, "pin"),
        ({"pin": "123456789"}, "pin"),
        ({"pin": ""}, "pin"),
        ({"staff": ""}, "staff"),
        ({"staff": "other"}, "staff"),
        ({"terminal": "other"}, "terminal"),
        ({"terminal": "revoked"}, "terminal"),
        ({"terminal": "nope"}, "terminal"),
    ],
)
def test_pin_bad_input_writes_nothing(
    client_a: Client, merchant: Merchant, other_merchant: Merchant, staff_a: Staff, change: dict[str, Any], field: str
) -> None:
    till = TerminalFactory(merchant=merchant)
    ids = {
        "other": None,
        "revoked": TerminalFactory(merchant=merchant, revoked_at="2026-01-01T00:00:00Z").pk,
    }
    data: dict[str, Any] = {"terminal": till.pk, "staff": staff_a.pk, "pin": "2468", **change}
    if data["staff"] == "other":
        data["staff"] = StaffFactory(merchant=other_merchant).pk
    if data["terminal"] == "other":
        data["terminal"] = TerminalFactory(merchant=other_merchant).pk
    elif data["terminal"] == "revoked":
        data["terminal"] = ids["revoked"]
    response = client_a.post("/settings/cashier-pins/", data)
    assert response.status_code == 400 and response.context["pin_form"].errors[field]
    assert not CashierPin.objects.exists()


def test_another_merchants_pin_cannot_be_removed(client_a: Client, other_merchant: Merchant) -> None:
    from payments.services.cashier_pins import cashier_pin_set

    till = TerminalFactory(merchant=other_merchant)
    pin = cashier_pin_set(
        merchant=other_merchant, terminal_id=till.pk, staff_id=StaffFactory(merchant=other_merchant).pk, pin="2468"
    )
    assert client_a.post(f"/settings/cashier-pins/{pin.pk}/remove/").status_code == 404
    assert CashierPin.objects.filter(pk=pin.pk).exists()
