"""``get_wallet_provider``: built from Django settings once per process, resettable for tests."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from fakeblink import FakeBlink
from payments.wallet import provider as provider_module
from payments.wallet.client import BlinkClient
from payments.wallet.provider import get_wallet_provider, reset_wallet_provider


@pytest.fixture
def fake_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    # Stand-in for django.conf.settings, so these tests need no configured Django.
    values = SimpleNamespace()
    monkeypatch.setattr(provider_module, "settings", values)
    reset_wallet_provider()
    yield values
    reset_wallet_provider()


def test_provider_is_built_from_settings_and_cached(fake_settings: SimpleNamespace, fake_blink: FakeBlink) -> None:
    # given
    fake_settings.BLINK_API_URL = fake_blink.url
    fake_settings.BLINK_API_KEY = fake_blink.platform_api_key
    fake_settings.BLINK_WALLET_ID = fake_blink.platform_wallet_id
    fake_settings.BLINK_CONNECT_TIMEOUT = "2"  # env-sourced values may be strings

    # when
    provider = get_wallet_provider()

    # then
    assert isinstance(provider, BlinkClient)
    assert get_wallet_provider() is provider
    assert provider.btc_price(currency="USD").currency == "USD"


def test_optional_settings_have_defaults(fake_settings: SimpleNamespace) -> None:
    fake_settings.BLINK_API_KEY = "blink_somekey"

    provider = get_wallet_provider()

    assert isinstance(provider, BlinkClient)
    assert "api.blink.sv" in repr(provider)


def test_missing_api_key_is_a_configuration_error(fake_settings: SimpleNamespace) -> None:
    with pytest.raises(ImproperlyConfigured, match="BLINK_API_KEY"):
        get_wallet_provider()


def test_reset_builds_a_new_provider(fake_settings: SimpleNamespace) -> None:
    fake_settings.BLINK_API_KEY = "blink_somekey"
    first = get_wallet_provider()

    reset_wallet_provider()

    assert get_wallet_provider() is not first
