"""The web POS's shift panel: the POS's group, clock in/out with the staff member's PIN, and a sale made
there in pooled mode keeping its tip for the open shift."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fakeblink import FakeBlink
from payments.models import ClockEntry, Merchant, PaymentSplit, Shift, TerminalGroup
from payments.services.cashier_pins import cashier_pin_set
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(merchant: Merchant, staff_a: object) -> TerminalGroup:
    group = TerminalGroup.objects.create(merchant=merchant, name="Floor")
    till = TerminalFactory(merchant=merchant, group=group)
    cashier_pin_set(merchant=merchant, terminal_id=till.pk, staff_id=staff_a.pk, pin="1357")  # type: ignore[attr-defined]
    return group


def test_clock_in_and_out_on_the_web_pos_with_the_pin(client_a: Client, floor: TerminalGroup, staff_a: object) -> None:
    # given: this POS stands in the Floor group
    client_a.post(reverse("dashboard:pos-group"), {"group_id": floor.pk})

    # when
    wrong = client_a.post(reverse("dashboard:pos-clock"), {"staff_id": staff_a.pk, "pin": "0000"}, follow=True)  # type: ignore[attr-defined]
    assert not ClockEntry.objects.exists()
    client_a.post(reverse("dashboard:pos-clock"), {"staff_id": staff_a.pk, "pin": "1357"})  # type: ignore[attr-defined]
    page = client_a.get(reverse("dashboard:pos"))
    client_a.post(reverse("dashboard:pos-clock"), {"staff_id": staff_a.pk, "pin": "1357"})  # type: ignore[attr-defined]

    # then
    assert any("pin" in str(m) for m in wrong.context["messages"])
    entry = ClockEntry.objects.get()
    assert entry.source == "pos" and entry.clock_out_at is not None
    assert [e.staff_id for e in page.context["shift_panel"]["on_shift"]] == [staff_a.pk]  # type: ignore[attr-defined]


def test_clocking_needs_the_pos_group(client_a: Client, floor: TerminalGroup, staff_a: object) -> None:
    response = client_a.post(reverse("dashboard:pos-clock"), {"staff_id": staff_a.pk, "pin": "1357"}, follow=True)  # type: ignore[attr-defined]

    assert any("group_id" in str(m) for m in response.context["messages"])
    assert not Shift.objects.exists()


def test_another_merchants_group_cannot_be_chosen(client_a: Client, other_merchant: Merchant) -> None:
    theirs = TerminalGroup.objects.create(merchant=other_merchant, name="Theirs")

    response = client_a.post(reverse("dashboard:pos-group"), {"group_id": theirs.pk}, follow=True)

    assert any("group_id" in str(m) for m in response.context["messages"])
    assert "pos_group_id" not in client_a.session


def test_a_web_pos_sale_in_pooled_mode_pools_its_tip(
    fake_blink: FakeBlink, client_a: Client, merchant: Merchant, floor: TerminalGroup, staff_a: object
) -> None:
    # given: pooled mode, an open shift in the POS's group
    merchant.tip_mode = "pooled"
    merchant.save(update_fields=["tip_mode"])
    client_a.post(reverse("dashboard:pos-group"), {"group_id": floor.pk})
    client_a.post(reverse("dashboard:pos-clock"), {"staff_id": staff_a.pk, "pin": "1357"})  # type: ignore[attr-defined]

    # when
    response = client_a.post(
        reverse("dashboard:pos-create"),
        {"unit": "sats", "amount": "2000", "tip_percent": "10", "staff": staff_a.pk},  # type: ignore[attr-defined]
    )

    # then: one merchant leg of the base, the tip kept for the shift
    assert response.status_code == 201
    split = PaymentSplit.objects.get()
    assert split.pooled_amount == 200 and split.shift_id == Shift.objects.get().pk
    assert [(leg.kind, leg.amount) for leg in split.legs.all()] == [("merchant", 2000)]


def test_a_cashier_clocks_in_and_out_on_their_terminals_group(
    client: Client, merchant: Merchant, floor: TerminalGroup, staff_a: object
) -> None:
    # given: signed in with the PIN on the till of the Floor group
    till = floor.terminals.get()
    client.post(f"/cashier/login/?terminal={till.key_prefix}", {"mode": "pin", "staff": staff_a.pk, "pin": "1357"})  # type: ignore[attr-defined]
    page = client.get("/cashier/")

    # when
    client.post("/cashier/clock/")
    entry = ClockEntry.objects.get()
    client.post("/cashier/clock/")

    # then
    assert b"Clock in/out" in page.content
    assert entry.source == "pos" and entry.shift.group_id == floor.pk
    entry.refresh_from_db()
    assert entry.clock_out_at is not None


def test_the_cashier_clock_needs_a_cashier_session(client: Client, floor: TerminalGroup) -> None:
    response = client.post("/cashier/clock/")

    assert response.status_code == 302 and response["Location"].startswith("/cashier/login/")
    assert not ClockEntry.objects.exists()
