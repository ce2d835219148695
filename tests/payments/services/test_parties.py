"""Merchants, staff, split profiles and terminals: resolved at the fake Blink, validated before any
write, secrets encrypted and never logged."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from fakeblink import FakeBlink
from payments.crypto import decrypt_secret
from payments.models import Merchant, SplitProfile, SplitProfileShare, Staff, Terminal
from payments.services.parties import (
    merchant_create,
    merchant_set_api_key,
    merchant_update_settings,
    split_profile_save,
    staff_create,
    staff_deactivate,
)
from payments.services.pricing import ProviderUnavailable
from payments.services.terminals import terminal_create, terminal_revoke
from payments.terminal_keys import terminal_cache_key
from tests.factories import MerchantFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


def field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_merchant_create_resolves_the_btc_wallet(fake_blink: FakeBlink) -> None:
    wallet_id = fake_blink.add_account("corner_cafe")
    merchant = merchant_create(user=UserFactory(), name=" Corner Cafe ", blink_username="Corner_Cafe")
    assert (merchant.name, merchant.blink_username, merchant.wallet_id) == ("Corner Cafe", "corner_cafe", wallet_id)
    assert (merchant.display_currency, merchant.tip_presets) == ("USD", [10, 15, 20])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"blink_username": "nobody_here"}, "blink_username"),
        ({"blink_username": "x!"}, "blink_username"),
        ({"name": "  "}, "name"),
        ({"display_currency": "XYZ"}, "display_currency"),
        ({"tip_presets": [10, 101]}, "tip_presets"),
        ({"tip_presets": [10, 10]}, "tip_presets"),
        ({"tip_presets": []}, "tip_presets"),
        ({"tip_presets": [12.5]}, "tip_presets"),
    ],
)
def test_merchant_create_refuses_bad_input(fake_blink: FakeBlink, kwargs: dict[str, Any], field: str) -> None:
    fake_blink.add_account("corner_cafe")
    args = {"user": None, "name": "Cafe", "blink_username": "corner_cafe", **kwargs}
    with pytest.raises(ValidationError) as exc:
        merchant_create(**args)
    assert field in field_errors(exc)
    assert Merchant.objects.count() == 0


def test_merchant_with_usd_only_account_is_refused(fake_blink: FakeBlink) -> None:
    fake_blink.add_account("dollar_shop", currencies=("USD",))
    with pytest.raises(ValidationError) as exc:
        merchant_create(user=None, name="Shop", blink_username="dollar_shop")
    assert field_errors(exc) == {"blink_username": ["This Blink account has no BTC wallet."]}


def test_merchant_duplicate_username_is_a_field_error(fake_blink: FakeBlink) -> None:
    fake_blink.add_account("corner_cafe")
    merchant_create(user=None, name="Cafe", blink_username="corner_cafe")
    with pytest.raises(ValidationError) as exc:
        merchant_create(user=None, name="Cafe 2", blink_username="corner_cafe")
    assert "blink_username" in field_errors(exc)


def test_provider_down_during_onboarding_is_retryable(fake_blink: FakeBlink) -> None:
    fake_blink.add_account("corner_cafe")
    fake_blink.script("accountDefaultWallet", ["HTTP_503"])
    with pytest.raises(ProviderUnavailable):
        merchant_create(user=None, name="Cafe", blink_username="corner_cafe")
    assert Merchant.objects.count() == 0


def test_merchant_update_settings() -> None:
    merchant = MerchantFactory()
    merchant_update_settings(merchant=merchant, display_currency="eur", tip_presets=[5, 10])
    merchant.refresh_from_db()
    assert (merchant.display_currency, merchant.tip_presets) == ("EUR", [5, 10])
    with pytest.raises(ValidationError):
        merchant_update_settings(merchant=merchant, display_currency="JPY")
    merchant.refresh_from_db()
    assert merchant.display_currency == "EUR"


def test_read_only_key_is_stored_encrypted_and_never_logged(fake_blink: FakeBlink, caplog: Any) -> None:
    key = "blink_merchantreadreceivekey0001"
    wallet_id = fake_blink.add_account("corner_cafe", api_key=key, scopes=("READ", "RECEIVE"))
    merchant = MerchantFactory(blink_username="corner_cafe", wallet_id=wallet_id)
    with caplog.at_level(logging.DEBUG):
        merchant_set_api_key(merchant=merchant, api_key=key)
    merchant.refresh_from_db()
    assert key not in merchant.blink_api_key_encrypted
    assert decrypt_secret(merchant.blink_api_key_encrypted) == key
    assert merchant.blink_api_key_scopes == "READ,RECEIVE"
    assert key not in caplog.text


def test_write_scoped_key_is_refused_with_an_explanation(fake_blink: FakeBlink) -> None:
    key = "blink_merchantwritekey0000000001"
    wallet_id = fake_blink.add_account("corner_cafe", api_key=key, scopes=("READ", "RECEIVE", "WRITE"))
    merchant = MerchantFactory(blink_username="corner_cafe", wallet_id=wallet_id)
    with pytest.raises(ValidationError) as exc:
        merchant_set_api_key(merchant=merchant, api_key=key)
    (message,) = field_errors(exc)["api_key"]
    assert "WRITE" in message and "never needs to spend" in message
    merchant.refresh_from_db()
    assert merchant.blink_api_key_encrypted == ""


@pytest.mark.parametrize("case", ["unknown key", "other account", "malformed"])
def test_other_bad_keys_are_refused(fake_blink: FakeBlink, case: str) -> None:
    fake_blink.add_account("someone_else", api_key="blink_someoneelsekey00000000001", scopes=("READ",))
    merchant = MerchantFactory(wallet_id=fake_blink.add_account("corner_cafe"))
    key = {"unknown key": "blink_nosuchkey000000000000001", "other account": "blink_someoneelsekey00000000001"}.get(
        case, "has spaces in it"
    )
    with pytest.raises(ValidationError) as exc:
        merchant_set_api_key(merchant=merchant, api_key=key)
    assert "api_key" in field_errors(exc)
    merchant.refresh_from_db()
    assert merchant.blink_api_key_encrypted == ""


def test_staff_create_and_deactivate(fake_blink: FakeBlink) -> None:
    merchant = MerchantFactory()
    wallet_id = fake_blink.add_account("alice")
    staff = staff_create(merchant=merchant, display_name="Alice", blink_username="ALICE")
    assert (staff.blink_username, staff.wallet_id, staff.is_active) == ("alice", wallet_id, True)
    with pytest.raises(ValidationError) as exc:
        staff_create(merchant=merchant, display_name="Alice again", blink_username="alice")
    assert "blink_username" in field_errors(exc)
    staff_deactivate(staff=staff)
    staff.refresh_from_db()
    assert staff.is_active is False


def test_unknown_staff_username_is_refused(fake_blink: FakeBlink) -> None:
    with pytest.raises(ValidationError) as exc:
        staff_create(merchant=MerchantFactory(), display_name="Ghost", blink_username="ghost_user")
    assert field_errors(exc) == {"blink_username": ["No Blink account has this username."]}
    assert Staff.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_split_profile_save_creates_and_replaces_shares() -> None:
    merchant = MerchantFactory()
    alice, bob, carol = (StaffFactory(merchant=merchant) for _ in range(3))
    profile = split_profile_save(merchant=merchant, name="Floor", shares=[(alice, 5000), (bob, 5000)])
    assert sorted(profile.shares.values_list("weight_bps", flat=True)) == [5000, 5000]
    split_profile_save(merchant=merchant, name="Floor team", shares=[(alice, 2500), (carol, 7500)], profile=profile)
    profile.refresh_from_db()
    assert profile.name == "Floor team"
    assert {(s.staff_id, s.weight_bps) for s in profile.shares.all()} == {(alice.pk, 2500), (carol.pk, 7500)}
    # the database agrees: the deferred trigger accepted both commits
    with transaction.atomic():
        assert SplitProfileShare.objects.filter(profile=profile).count() == 2


def _profile_case(case: str, merchant: Merchant) -> list[tuple[Staff, int]]:
    alice, bob = StaffFactory(merchant=merchant), StaffFactory(merchant=merchant)
    if case == "sum below":
        return [(alice, 5000), (bob, 4999)]
    if case == "sum above":
        return [(alice, 5000), (bob, 5001)]
    if case == "zero weight":
        return [(alice, 10_000), (bob, 0)]
    if case == "same staff twice":
        return [(alice, 5000), (alice, 5000)]
    if case == "other merchant":
        return [(alice, 5000), (StaffFactory(), 5000)]
    if case == "inactive":
        bob.is_active = False
        return [(alice, 5000), (bob, 5000)]
    return []


@pytest.mark.parametrize(
    "case", ["sum below", "sum above", "zero weight", "same staff twice", "other merchant", "inactive", "empty"]
)
def test_split_profile_save_refuses(case: str) -> None:
    merchant = MerchantFactory()
    shares = _profile_case(case, merchant)
    with pytest.raises(ValidationError) as exc:
        split_profile_save(merchant=merchant, name="Team", shares=shares)
    assert "shares" in field_errors(exc)
    assert SplitProfile.objects.count() == 0


def test_terminal_key_is_shown_once_and_stored_hashed() -> None:
    merchant = MerchantFactory()
    terminal, key = terminal_create(merchant=merchant, name="Front till")
    match = re.fullmatch(r"bpos_([0-9a-f]{8})_([A-Za-z0-9-]+)", key)
    assert match is not None and match.group(1) == terminal.key_prefix
    stored = Terminal.objects.get(pk=terminal.pk)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(Terminal.objects.filter(pk=terminal.pk).values().get())
    with pytest.raises(ValidationError):
        terminal_create(merchant=merchant, name=" ")


@pytest.mark.django_db(transaction=True)
def test_terminal_revoke_evicts_the_cached_auth_record() -> None:
    terminal, _ = terminal_create(merchant=MerchantFactory(), name="Till")
    cache.set(terminal_cache_key(terminal.key_prefix), {"id": terminal.pk}, 60)
    terminal_revoke(terminal=terminal)
    assert cache.get(terminal_cache_key(terminal.key_prefix)) is None
    assert Terminal.objects.get(pk=terminal.pk).revoked_at is not None


def test_seed_demo_is_idempotent_and_prints_the_key_once(fake_blink: FakeBlink) -> None:
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    for username in ("demo_merchant", "alice", "bob", "carol"):
        fake_blink.add_account(username)
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert first.getvalue().count("API key (shown once): bpos_") == 1
    assert "API key" not in second.getvalue()
    assert get_user_model().objects.get(username="demo").check_password("demo-pos-1234")
    merchant = Merchant.objects.get(blink_username="demo_merchant")
    assert merchant.user.username == "demo"
    assert sorted(Staff.objects.filter(merchant=merchant).values_list("blink_username", flat=True)) == [
        "alice",
        "bob",
        "carol",
    ]
    profile = SplitProfile.objects.get(merchant=merchant, name="Floor team")
    assert sorted((s.staff.blink_username, s.weight_bps) for s in profile.shares.all()) == [
        ("alice", 5000),
        ("bob", 3000),
        ("carol", 2000),
    ]
    assert Terminal.objects.filter(merchant=merchant).count() == 1
    from payments.models import PayCode

    codes = PayCode.objects.filter(merchant=merchant).order_by("username")
    assert [(c.username, c.kind) for c in codes] == [
        ("alice-tips", "staff"),
        ("democafe", "merchant"),
        ("floor-tips", "team"),
    ]
    # and the shifts demo: the till in a group, roles, a pool rule with a kitchen tip-out, PINs to clock in
    from payments.models import CashierPin, PoolRule, TerminalGroup

    till = Terminal.objects.get(merchant=merchant)
    assert till.group == TerminalGroup.objects.get(merchant=merchant, name="Main room")
    staff_roles = Staff.objects.filter(merchant=merchant).values_list("blink_username", "role__name")
    assert sorted(staff_roles) == [("alice", "server"), ("bob", "bar"), ("carol", "kitchen")]
    rule = PoolRule.objects.get(merchant=merchant, group=None)
    assert rule.method == "hours_role" and [(t.role.name, t.percent_bps) for t in rule.tip_outs.all()] == [
        ("kitchen", 1000)
    ]
    assert CashierPin.objects.filter(terminal=till).count() == 3
    assert merchant.tip_mode == "per_sale"  # pooling stays opt-in
