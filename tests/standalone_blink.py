"""Fixtures shared by the test folders that need a fake Blink but neither the database nor Redis
(``tests/fakeblink``, ``tests/payments/wallet``): each folder's conftest imports them and defines its own
``fake_blink``. The contract tests' ``blink_schema`` comes along."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakeblink import FakeBlink
from payments.wallet.client import BlinkClient
from tests.blink_schema import blink_schema

__all__ = ["_clean_redis", "alice", "blink_client", "blink_schema", "client_for"]


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    # Overrides the suite-wide Redis flush: nothing here touches Redis, so these tests run without it.
    yield


def client_for(fake: FakeBlink, *, read_timeout: float = 1.0) -> BlinkClient:
    """The product's client, pointed at ``fake`` over HTTP as the platform account."""
    return BlinkClient(
        url=fake.url,
        api_key=fake.platform_api_key,
        wallet_id=fake.platform_wallet_id,
        connect_timeout=1.0,
        read_timeout=read_timeout,
    )


@pytest.fixture
def blink_client(fake_blink: FakeBlink) -> Iterator[BlinkClient]:
    client = client_for(fake_blink)
    yield client
    client.close()


@pytest.fixture
def alice(fake_blink: FakeBlink) -> str:
    """A recipient with a BTC wallet; returns the wallet id."""
    return fake_blink.add_account("alice")
