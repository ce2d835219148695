"""Fixtures for the wallet-provider tests: a real fake Blink on loopback, the real client pointed at
it over HTTP, and a client whose transport records (and refuses) every request.

These tests need neither the database nor Redis. Run them alone with
``pytest tests/payments/wallet -p no:django -p no:cacheprovider --confcutdir=tests/payments/wallet``
or as part of the whole suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from fakeblink import FakeBlink
from payments.wallet.client import BlinkClient
from tests.standalone_blink import _clean_redis, alice, blink_client, blink_schema, client_for  # noqa: F401

PLATFORM_KEY = "blink_testplatformkeyforthewallettests"
MERCHANT_KEY = "blink_testmerchantkeyreadreceive"
VALID_WALLET_ID = "5672c814-cbbb-5188-af3c-183a4d07c35b"


@pytest.fixture
def fake_blink() -> Iterator[FakeBlink]:
    fake = FakeBlink(
        platform_api_key=PLATFORM_KEY,
        seed=7,
        pending_polls=2,
        slow_seconds=0.6,
        webhook_retry_delays=(0.05, 0.1, 0.2),
        webhook_string_amounts=0.0,
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def impatient_client(fake_blink: FakeBlink) -> Iterator[BlinkClient]:
    """Gives up long before the fake's TIMEOUT_AFTER_APPLY_SLEEP answers (0.6 s)."""
    client = client_for(fake_blink, read_timeout=0.2)
    yield client
    client.close()


@dataclass
class RecordingTransport:
    """An httpx transport that records every request and answers 500: proof that nothing went out."""

    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500)


@pytest.fixture
def recording() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
def offline_client(recording: RecordingTransport) -> Iterator[BlinkClient]:
    client = BlinkClient(
        url="http://blink.invalid/graphql",
        api_key=PLATFORM_KEY,
        wallet_id=VALID_WALLET_ID,
        transport=httpx.MockTransport(recording),
    )
    yield client
    client.close()
