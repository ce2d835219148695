"""The terminal's clock API: PIN-checked clock in/out, the current shift, and every bad input a 4xx
naming the field with nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from payments.models import ClockEntry, Shift, TerminalGroup
from payments.services.cashier_pins import cashier_pin_set
from tests.payments.api.conftest import Shop

pytestmark = pytest.mark.django_db

URL = "/api/v1/terminal/clock"


@pytest.fixture
def grouped(shop: Shop) -> Shop:
    group = TerminalGroup.objects.create(merchant=shop.merchant, name="Bar")
    shop.terminal.group = group
    shop.terminal.save(update_fields=["group"])
    cashier_pin_set(merchant=shop.merchant, terminal_id=shop.terminal.pk, staff_id=shop.alice.pk, pin="2468")
    return shop


def post(api: Client, shop: Shop, body: Any) -> Any:
    return api.post(URL, data=json.dumps(body), content_type="application/json", **shop.auth)


def test_clock_in_then_out_with_the_pin(api: Client, grouped: Shop) -> None:
    # when
    first = post(api, grouped, {"staff_id": grouped.alice.pk, "pin": "2468"})
    current = api.get("/api/v1/terminal/shift", **grouped.auth).json()
    second = post(api, grouped, {"staff_id": grouped.alice.pk, "pin": "2468"})

    # then
    assert first.status_code == 200 and first.json()["clocked_in"] is True
    assert current["shift_id"] == first.json()["shift_id"] and current["group"] == "Bar"
    assert [p["staff_id"] for p in current["clocked_in"]] == [grouped.alice.pk]
    assert second.status_code == 200 and second.json()["clocked_in"] is False
    assert second.json()["clock_out_at"] is not None
    assert ClockEntry.objects.get().clock_out_at is not None


def test_clocking_in_twice_is_a_conflict(api: Client, grouped: Shop) -> None:
    post(api, grouped, {"staff_id": grouped.alice.pk, "pin": "2468", "action": "in"})

    again = post(api, grouped, {"staff_id": grouped.alice.pk, "pin": "2468", "action": "in"})

    assert again.status_code == 409 and "staff_id" in again.json()["error"]["fields"]
    assert ClockEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pin": "2468"}, "staff_id"),
        ({"staff_id": "x", "pin": "2468"}, "staff_id"),
        ({"staff_id": -3, "pin": "2468"}, "staff_id"),
        ({"staff_id": 1}, "pin"),
        ({"staff_id": 1, "pin": "12"}, "pin"),
        ({"staff_id": 1, "pin": "2468", "action": "sideways"}, "action"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api: Client, grouped: Shop, body: dict, field: str) -> None:
    response = post(api, grouped, body)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ClockEntry.objects.exists() and not Shift.objects.exists()


def test_a_wrong_pin_or_someone_else_is_refused(api: Client, grouped: Shop, other_shop: Shop) -> None:
    wrong = post(api, grouped, {"staff_id": grouped.alice.pk, "pin": "1111"})
    no_pin = post(api, grouped, {"staff_id": grouped.bob.pk, "pin": "2468"})
    stranger = post(api, grouped, {"staff_id": other_shop.alice.pk, "pin": "2468"})

    assert [r.status_code for r in (wrong, no_pin, stranger)] == [400, 400, 400]
    assert all("pin" in r.json()["error"]["fields"] for r in (wrong, no_pin, stranger))
    assert not ClockEntry.objects.exists()


def test_a_terminal_without_a_group_cannot_clock(api: Client, shop: Shop) -> None:
    cashier_pin_set(merchant=shop.merchant, terminal_id=shop.terminal.pk, staff_id=shop.alice.pk, pin="2468")

    response = post(api, shop, {"staff_id": shop.alice.pk, "pin": "2468", "action": "in"})

    assert response.status_code == 409 and response.json()["error"]["code"] == "no_group"
    assert not Shift.objects.exists()


def test_the_current_shift_without_one(api: Client, shop: Shop) -> None:
    body = api.get("/api/v1/terminal/shift", **shop.auth).json()

    assert body == {"shift_id": None, "group": None, "opened_at": None, "pool_sats": 0, "clocked_in": []}


def test_the_clock_needs_a_terminal_key(api: Client) -> None:
    assert api.post(URL, data="{}", content_type="application/json").status_code in (401, 403)
