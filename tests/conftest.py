"""Shared fixtures: every test runs against the real PostgreSQL and Redis the settings point at.

Redis is flushed before each test (tests own the Redis database they are given) so hot-store keys
and counters never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from fakeblink.limits import LimitsConfig
from payments import sale_config_cache, store
from payments.services.pricing import forget_local_prices
from payments.terminal_keys import forget_local
from payments.wallet.provider import reset_wallet_provider
from tests.lnurl_support import point_lnurl_at


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    get_redis_connection(store.HOT_ALIAS).flushdb()
    store._pending_counts.clear()
    forget_local()  # terminal auth records this process remembers for a few seconds
    sale_config_cache.forget_local()  # and the sale configurations it keeps under their generation
    forget_local_prices()  # and prices
    yield


@pytest.fixture
def fake_blink(settings: Any) -> Iterator[FakeBlink]:
    """A started fake Blink on loopback, with the app's wallet provider pointed at it over real HTTP.

    Register recipients with ``fake_blink.add_account("alice")`` (returns the BTC wallet id). Other
    processes (Celery workers) reach it at ``fake_blink.url`` with ``fake_blink.platform_api_key``.

    Blink's account limits are OFF here: many tests create invoices on the one platform account far
    faster than 60 a minute. A test of the product's reaction turns them on with
    ``fake_blink.configure_limits(...)``. Webhooks follow Svix's schedule on the fake's clock, and about
    half of them carry ``settlementAmount`` as a string, as Blink's do.
    """
    fake = FakeBlink(
        platform_api_key=settings.BLINK_API_KEY,
        seed=11,
        pending_polls=3,
        slow_seconds=2.5,
        limits=LimitsConfig.off(),
    )
    fake.start()
    settings.BLINK_API_URL = fake.url
    settings.BLINK_WALLET_ID = fake.platform_wallet_id
    settings.BLINK_READ_TIMEOUT = 1.5
    settings.BLINK_CONNECT_TIMEOUT = 1.0
    point_lnurl_at(settings, fake)
    reset_wallet_provider()
    yield fake
    reset_wallet_provider()
    fake.stop()
