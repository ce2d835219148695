"""Fixtures for the fake Blink's own tests: a started fake on loopback, the real client pointed at it
over HTTP (the fake is checked the way the product uses it), and a webhook receiver.

These tests need neither the database nor Redis. Run them alone with
``pytest tests/fakeblink -p no:django -p no:cacheprovider --confcutdir=tests/fakeblink``
or as part of the whole suite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from fakeblink import FakeBlink
from fakeblink.server import HTTPServerThread, Reply
from tests.standalone_blink import _clean_redis, alice, blink_client, blink_schema  # noqa: F401

PLATFORM_KEY = "blink_testplatformkeyforthefakestests"
WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0zMi1ieXRlcyE="


@pytest.fixture
def fake_blink() -> Iterator[FakeBlink]:
    # Blink's limits stay on (tests/fakeblink/test_limits.py); retries are quick and amounts integers
    # unless a test asks otherwise (test_webhooks_svix.py uses Svix's schedule and string amounts).
    fake = FakeBlink(
        platform_api_key=PLATFORM_KEY,
        seed=7,
        pending_polls=2,
        webhook_retry_delays=(0.05, 0.1, 0.2),
        webhook_string_amounts=0.0,
    )
    fake.start()
    yield fake
    fake.stop()


@dataclass
class WebhookReceiver:
    """A loopback endpoint that records raw webhook deliveries; answers ``statuses`` in order, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        self.received.append((dict(headers), body))
        return Reply(status=self.statuses.pop(0) if self.statuses else 200)

    def wait(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.received) >= count


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    server = HTTPServerThread(receiver.handle)
    receiver.url = f"http://{server.host}:{server.port}/webhooks/blink"
    server.start()
    yield receiver
    server.stop()
