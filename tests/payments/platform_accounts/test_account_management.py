"""Adding and changing platform accounts (service, admin, ``manage.py platform_account``) and moving
merchants: the key is checked at the fake Blink over HTTP, stored encrypted, never shown; bad input
names its field and writes nothing."""

from __future__ import annotations

import re
import secrets
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from fakeblink import FakeBlink
from payments.models import Merchant, PlatformAccount
from payments.platform_accounts import credentials_of, provider_for, webhook_secrets_of
from payments.services.platform_accounts import platform_account_create, platform_account_update
from payments.services.pricing import ProviderUnavailable
from tests.factories import MerchantFactory, UserFactory
from tests.payments.platform_accounts.conftest import PLATFORM_SCOPES, SecondAccount, new_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def blink_key(fake_blink: FakeBlink) -> tuple[str, str]:
    """A platform-scoped key of a new account at the fake, and its BTC wallet id."""
    key = "blink_" + secrets.token_hex(20)
    wallet = fake_blink.add_account(f"plat_{secrets.token_hex(3)}", api_key=key, scopes=PLATFORM_SCOPES)
    return key, wallet


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"api_key": "has spaces in it"}, "api_key"),
        ({"api_key": "blink_" + "0" * 40}, "api_key"),  # Blink does not know it
        ({"wallet_id": "00000000-0000-4000-8000-000000000000"}, "wallet_id"),
        ({"api_url": "ftp://example.org/graphql"}, "api_url"),
        ({"webhook_secrets": ["whsec_not-base64!"]}, "webhook_secrets"),
        ({"invoice_rate_points": 0}, "invoice_rate_points"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    fake_blink: FakeBlink, blink_key: tuple[str, str], changes: dict[str, Any], field: str
) -> None:
    key, wallet = blink_key
    given: dict[str, Any] = {"name": "B", "api_key": key, "wallet_id": wallet, "api_url": fake_blink.url} | changes

    with pytest.raises(ValidationError) as refused:
        platform_account_create(**given)

    assert field in refused.value.message_dict
    assert not PlatformAccount.objects.exists()


def test_a_key_without_write_scope_is_refused(fake_blink: FakeBlink) -> None:
    key = "blink_" + secrets.token_hex(20)
    fake_blink.add_account("readonly_plat", api_key=key, scopes=("READ", "RECEIVE"))

    with pytest.raises(ValidationError) as refused:
        platform_account_create(name="B", api_key=key, api_url=fake_blink.url)

    assert "WRITE" in refused.value.message_dict["api_key"][0]
    assert not PlatformAccount.objects.exists()


def test_blink_unavailable_while_checking_the_key_writes_nothing(
    fake_blink: FakeBlink, blink_key: tuple[str, str]
) -> None:
    fake_blink.script("me", ["HTTP_503"])

    with pytest.raises(ProviderUnavailable):
        platform_account_create(name="B", api_key=blink_key[0], api_url=fake_blink.url)

    assert not PlatformAccount.objects.exists()


def test_the_key_and_secrets_are_stored_encrypted_and_a_new_key_takes_effect(
    fake_blink: FakeBlink, blink_key: tuple[str, str]
) -> None:
    key, wallet = blink_key
    secret = new_secret()
    account = platform_account_create(name="B", api_key=key, api_url=fake_blink.url, webhook_secrets=[secret])
    assert key not in account.api_key_encrypted and secret not in account.webhook_secrets_encrypted
    assert credentials_of(account).api_key == key and webhook_secrets_of(account) == [secret]
    first = provider_for(account_id=account.pk)

    # when the operator replaces the key (Blink issues a new one for the same account)
    new_key = "blink_" + secrets.token_hex(20)
    with fake_blink.ledger.lock:
        fake_blink.ledger.account_by_key(key).api_key = new_key  # type: ignore[union-attr]
    platform_account_update(account=account, api_key=new_key)

    # then the next call uses a client built with the new key
    second = provider_for(account_id=account.pk)
    assert second is not first
    assert second.key_info(api_key=new_key).btc_wallet.wallet_id == wallet  # type: ignore[union-attr]
    assert provider_for(account_id=account.pk) is second  # cached while nothing changes


def test_the_admin_adds_an_account_checks_its_key_and_never_shows_it(
    fake_blink: FakeBlink, blink_key: tuple[str, str], operator: Client
) -> None:
    key, wallet = blink_key
    add = reverse("admin:payments_platformaccount_add")
    form = {"name": "Second", "api_key": key, "wallet_id": "", "api_url": fake_blink.url, "is_active": "on"}

    # a key Blink refuses: the form says so on the field, nothing is written
    refused = operator.post(add, {**form, "api_key": "blink_" + "1" * 40})
    assert refused.status_code == 200 and "Blink does not accept this API key" in refused.content.decode()
    assert not PlatformAccount.objects.exists()

    # a good key: saved, with the key's BTC wallet
    created = operator.post(add, {**form, "webhook_secrets": new_secret()})
    assert created.status_code == 302, re.findall(r"errorlist[^>]*>(.*?)</ul>", created.content.decode(), re.S)
    account = PlatformAccount.objects.get()
    assert (account.name, account.wallet_id, account.is_active) == ("Second", wallet, True)

    # the change page shows the webhook path but never the key or the secret
    page = operator.get(reverse("admin:payments_platformaccount_change", args=[account.pk])).content.decode()
    assert f"/webhooks/blink/{account.webhook_token}" in page
    assert key not in page and account.api_key_encrypted not in page
    for secret in webhook_secrets_of(account):
        assert secret not in page

    # saving the change page with the key left empty keeps the key
    change = reverse("admin:payments_platformaccount_change", args=[account.pk])
    kept = operator.post(change, {**form, "api_key": "", "name": "Second renamed", "invoice_rate_points": "120"})
    assert kept.status_code == 302, kept.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.name, account.invoice_rate_points, credentials_of(account).api_key) == ("Second renamed", 120, key)


def test_the_merchant_list_moves_merchants_to_an_account_for_new_sales(
    account_b: SecondAccount, operator: Client
) -> None:
    merchants = [MerchantFactory(), MerchantFactory()]
    changelist = reverse("admin:payments_merchant_changelist")

    response = operator.post(
        changelist,
        {"action": f"move_to_account_{account_b.account.pk}", "_selected_action": [m.pk for m in merchants]},
    )

    assert response.status_code == 302
    assert set(Merchant.objects.values_list("platform_account_id", flat=True)) == {account_b.account.pk}
    operator.post(changelist, {"action": "move_to_account_default", "_selected_action": [merchants[0].pk]})
    merchants[0].refresh_from_db()
    assert merchants[0].platform_account_id is None


def test_the_command_adds_from_the_environment_lists_without_secrets_and_moves(
    fake_blink: FakeBlink, blink_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key, wallet = blink_key
    secret = new_secret()
    monkeypatch.setenv("SECOND_BLINK_KEY", key)
    monkeypatch.setenv("SECOND_WEBHOOK_SECRET", secret)
    out = StringIO()

    call_command(
        "platform_account",
        "add",
        "--name",
        "second",
        "--api-key-env",
        "SECOND_BLINK_KEY",
        "--api-url",
        fake_blink.url,
        "--webhook-secret-env",
        "SECOND_WEBHOOK_SECRET",
        stdout=out,
    )
    account = PlatformAccount.objects.get(name="second")
    assert account.wallet_id == wallet and webhook_secrets_of(account) == [secret]

    merchant = MerchantFactory(blink_username="moving_shop")
    call_command("platform_account", "move", "--merchant", "moving_shop", "--to", "second", stdout=out)
    merchant.refresh_from_db()
    assert merchant.platform_account_id == account.pk

    call_command("platform_account", "list", stdout=out)
    listing = out.getvalue()
    assert f"/webhooks/blink/{account.webhook_token}" in listing and "1 merchant(s)" in listing
    assert key not in listing and secret not in listing


def test_the_command_refuses_a_missing_variable_and_an_unknown_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(CommandError, match="NO_SUCH_KEY_VAR"):
        call_command("platform_account", "add", "--name", "x", "--api-key-env", "NO_SUCH_KEY_VAR")
    MerchantFactory(blink_username="stay_put")
    with pytest.raises(CommandError, match="No platform account"):
        call_command("platform_account", "move", "--merchant", "stay_put", "--to", "nowhere")
    assert not PlatformAccount.objects.exists()


def test_the_merchant_form_moves_to_an_active_account_only(account_b: SecondAccount, operator: Client) -> None:
    merchant = MerchantFactory(blink_username="form_shop", wallet_id="w-form")
    url = reverse("admin:payments_merchant_change", args=[merchant.pk])
    page = operator.get(url)
    form = {
        k: v
        for k, v in page.context["adminform"].form.initial.items()
        if k in ("name", "blink_username", "display_currency", "is_active", "needs_setup", "setup_note")
    }
    form |= {"tip_presets": "[10, 15, 20]", "user": merchant.user_id, "is_active": "on"}
    account_b.account.is_active = False
    account_b.account.save()

    refused = operator.post(url, {**form, "platform_account": account_b.account.pk})
    assert refused.status_code == 200 and "This account is inactive" in refused.content.decode()
    merchant.refresh_from_db()
    assert merchant.platform_account_id is None

    account_b.account.is_active = True
    account_b.account.save()
    moved = operator.post(url, {**form, "platform_account": account_b.account.pk})
    assert moved.status_code == 302
    merchant.refresh_from_db()
    assert merchant.platform_account_id == account_b.account.pk
