"""Settings: currency and presets, staff, split profiles, terminals, the write-only API key."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fakeblink import FakeBlink
from payments.models import Merchant, SplitProfile, Staff, Terminal
from payments.services.terminals import terminal_create
from tests.factories import StaffFactory, TerminalFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_settings_page_renders(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    body = client_a.get(reverse("dashboard:settings")).content.decode()
    assert "Dana" in body and 'value="10, 15, 20"' in body and 'type="password"' in body


def test_update_currency_and_presets(client_a: Client, merchant: Merchant) -> None:
    response = client_a.post(reverse("dashboard:settings-general"), {"display_currency": "EUR", "tip_presets": "5, 10"})
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert (merchant.display_currency, merchant.tip_presets) == ("EUR", [5, 10])


def test_the_merchant_chooses_who_pays_lightning_routing_fees(client_a: Client, merchant: Merchant) -> None:
    assert merchant.absorbs_payout_fees is False  # by default each share pays its own fee
    payload = {"display_currency": "USD", "tip_presets": "10", "absorbs_payout_fees": "on"}
    assert client_a.post(reverse("dashboard:settings-general"), payload).status_code == 302
    merchant.refresh_from_db()
    assert merchant.absorbs_payout_fees is True
    payload.pop("absorbs_payout_fees")  # an unticked box is absent from the post
    assert client_a.post(reverse("dashboard:settings-general"), payload).status_code == 302
    merchant.refresh_from_db()
    assert merchant.absorbs_payout_fees is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"display_currency": "XXX", "tip_presets": "10"}, "display_currency"),
        ({"display_currency": "EUR", "tip_presets": "ten"}, "tip_presets"),
        ({"display_currency": "EUR", "tip_presets": "150"}, "tip_presets"),
        ({"display_currency": "EUR", "tip_presets": "10, 10"}, "tip_presets"),
    ],
)
def test_invalid_settings_are_a_400_and_change_nothing(
    client_a: Client, merchant: Merchant, payload: dict[str, str], field: str
) -> None:
    response = client_a.post(reverse("dashboard:settings-general"), payload)
    assert response.status_code == 400
    assert field in response.context["settings_form"].errors
    merchant.refresh_from_db()
    assert (merchant.display_currency, merchant.tip_presets) == ("USD", [10, 15, 20])


def test_add_staff_resolves_the_username_at_the_provider(
    fake_blink: FakeBlink, client_a: Client, merchant: Merchant
) -> None:
    wallet_id = fake_blink.add_account("erin_tips")
    response = client_a.post(
        reverse("dashboard:staff-add"), {"display_name": "Erin", "payout_destination": "erin_tips"}
    )
    assert response.status_code == 302
    assert Staff.objects.get(merchant=merchant, display_name="Erin").wallet_id == wallet_id


def test_add_staff_with_an_unknown_username_is_a_400(fake_blink: FakeBlink, client_a: Client) -> None:
    response = client_a.post(reverse("dashboard:staff-add"), {"display_name": "X", "payout_destination": "nobody_here"})
    assert response.status_code == 400
    assert "payout_destination" in response.context["staff_form"].errors
    assert not Staff.objects.exists()


def test_deactivate_staff_and_isolation(client_a: Client, staff_a: Staff, other_merchant: Merchant) -> None:
    foreign = StaffFactory(merchant=other_merchant)
    assert client_a.post(reverse("dashboard:staff-deactivate", args=[foreign.pk])).status_code == 404
    assert client_a.post(reverse("dashboard:staff-deactivate", args=[staff_a.pk])).status_code == 302
    staff_a.refresh_from_db()
    foreign.refresh_from_db()
    assert (staff_a.is_active, foreign.is_active) == (False, True)


def test_save_split_profile_and_replace_it(client_a: Client, merchant: Merchant, staff_a: Staff) -> None:
    other = StaffFactory(merchant=merchant)
    url = reverse("dashboard:profile-save")
    assert (
        client_a.post(url, {"name": "Floor", f"share_{staff_a.pk}": "60", f"share_{other.pk}": "40"}).status_code == 302
    )
    assert client_a.post(url, {"name": "Floor", f"share_{staff_a.pk}": "100"}).status_code == 302
    profile = SplitProfile.objects.get(merchant=merchant, name="Floor")
    assert [(s.staff_id, s.weight_bps) for s in profile.shares.all()] == [(staff_a.pk, 10_000)]


def test_split_profile_weights_must_sum_to_100(client_a: Client, merchant: Merchant, staff_a: Staff) -> None:
    response = client_a.post(reverse("dashboard:profile-save"), {"name": "Odd", f"share_{staff_a.pk}": "99.99"})
    assert response.status_code == 400
    assert "100%" in str(response.context["profile_form"].non_field_errors())
    assert not SplitProfile.objects.exists()


def test_create_terminal_shows_the_key_once(client_a: Client, merchant: Merchant) -> None:
    response = client_a.post(reverse("dashboard:terminal-add"), {"name": "Patio"})
    terminal = Terminal.objects.get(merchant=merchant, name="Patio")
    key = response.context["plain_key"]
    assert key.startswith("bpos_") or terminal.key_prefix in key
    assert key in response.content.decode()
    assert key not in client_a.get(reverse("dashboard:settings")).content.decode()
    assert client_a.post(reverse("dashboard:terminal-add"), {"name": ""}).status_code == 400


def test_revoke_terminal_and_isolation(client_a: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    mine, _ = terminal_create(merchant=merchant, name="Bar")
    theirs = TerminalFactory(merchant=other_merchant)
    assert client_a.post(reverse("dashboard:terminal-revoke", args=[theirs.pk])).status_code == 404
    assert client_a.post(reverse("dashboard:terminal-revoke", args=[mine.pk])).status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_api_key_is_write_only(fake_blink: FakeBlink, client_a: Client, merchant: Merchant) -> None:
    api_key = "blink_" + "c" * 40
    merchant_wallet = fake_blink.add_account("alice_cafe", api_key=api_key, scopes=("READ", "RECEIVE"))
    Merchant.objects.filter(pk=merchant.pk).update(wallet_id=merchant_wallet)
    response = client_a.post(reverse("dashboard:api-key"), {"api_key": api_key})
    assert response.status_code == 302, response.context and response.context["api_key_form"].errors
    merchant.refresh_from_db()
    assert merchant.has_blink_api_key and api_key not in merchant.blink_api_key_encrypted
    page = client_a.get(reverse("dashboard:settings")).content.decode()
    assert api_key not in page and "A key is set" in page


def test_api_key_refused_by_the_provider_is_a_400(fake_blink: FakeBlink, client_a: Client, merchant: Merchant) -> None:
    response = client_a.post(reverse("dashboard:api-key"), {"api_key": "blink_" + "d" * 40})
    assert response.status_code == 400
    assert "api_key" in response.context["api_key_form"].errors
    merchant.refresh_from_db()
    assert not merchant.has_blink_api_key


@pytest.mark.parametrize(
    ("name", "args", "data"),
    [
        ("settings-general", [], {"display_currency": "EUR", "tip_presets": "5"}),
        ("staff-add", [], {"display_name": "X", "payout_destination": "xyz"}),
        ("profile-save", [], {"name": "T"}),
        ("terminal-add", [], {"name": "T"}),
        ("api-key", [], {"api_key": "blink_x"}),
    ],
)
def test_settings_forms_need_csrf(csrf_client_a: Client, merchant: Merchant, name: str, args: list, data: dict) -> None:
    assert csrf_client_a.post(reverse(f"dashboard:{name}", args=args), data).status_code == 403
    merchant.refresh_from_db()
    assert merchant.display_currency == "USD" and not Terminal.objects.exists()
