"""Svix's delivery behaviour in the fake: the retry schedule on the fake's clock, the endpoint disabled
after 5 days of failures, and Blink's bigints serialised as strings for a seeded share of messages."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakeblink import FakeBlink
from fakeblink.webhooks import SVIX_RETRY_DELAYS
from payments.wallet.client import BlinkClient
from tests.standalone_blink import client_for

from .conftest import PLATFORM_KEY, WEBHOOK_SECRET, WebhookReceiver


@pytest.fixture
def svix_fake() -> Iterator[FakeBlink]:
    """A fake with Svix's real schedule (the shared fixture shortens it for speed)."""
    fake = FakeBlink(platform_api_key=PLATFORM_KEY, seed=3, webhook_string_amounts=0.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def svix_client(svix_fake: FakeBlink) -> Iterator[BlinkClient]:
    client = client_for(svix_fake)
    yield client
    client.close()


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _only_message(fake: FakeBlink) -> dict[str, Any]:
    (message,) = fake.webhook_messages()
    return message


def _sale_paid(fake: FakeBlink, client: BlinkClient, external_id: str) -> None:
    invoice = client.create_invoice(amount_sats=21, memo=None, expires_in_minutes=60, external_id=external_id)
    fake.pay_invoice_as_customer(invoice.payment_hash)


def test_retries_follow_svix_schedule_on_the_fakes_clock(
    svix_fake: FakeBlink, svix_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    # given an endpoint that always fails
    webhook_receiver.statuses = [500] * 20
    svix_fake.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)

    # when one event is sent: the first attempt is immediate
    _sale_paid(svix_fake, svix_client, "sched")
    _wait(lambda: len(_only_message(svix_fake)["attempts"]) == 1)
    # and nothing more happens while the clock stands still short of the next delay
    svix_fake.advance_clock(SVIX_RETRY_DELAYS[0] - 1)
    time.sleep(0.2)
    assert len(_only_message(svix_fake)["attempts"]) == 1

    # then each retry comes when the clock reaches its delay after the previous failure
    svix_fake.advance_clock(1)
    for n in range(2, len(SVIX_RETRY_DELAYS) + 2):
        _wait(lambda n=n: len(_only_message(svix_fake)["attempts"]) == n)  # type: ignore[misc]
        if n <= len(SVIX_RETRY_DELAYS):
            svix_fake.advance_clock(SVIX_RETRY_DELAYS[n - 1])
    message = _only_message(svix_fake)
    at = [a["at"] for a in message["attempts"]]
    gaps = [round(b - a) for a, b in itertools.pairwise(at)]
    assert gaps == [5, 300, 1800, 7200, 18000, 36000, 36000]
    # eight attempts in all (immediately + seven retries), then Svix gives up
    _wait(lambda: _only_message(svix_fake)["exhausted"])
    assert len(message["attempts"]) == 8
    assert len({h["svix-id"] for h, _ in webhook_receiver.received}) == 1


def test_an_endpoint_failing_for_five_days_is_disabled_until_configured_again(
    svix_fake: FakeBlink, svix_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    # given an endpoint that fails everything, a first event at day 0 and another on each day after
    webhook_receiver.statuses = [503] * 100
    svix_fake.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    _sale_paid(svix_fake, svix_client, "day0")
    _wait(lambda: next(iter(svix_fake.webhook_endpoints().values()))["failing_since"] is not None)
    for day in range(1, 5):
        svix_fake.advance_clock(24 * 3600)
        _sale_paid(svix_fake, svix_client, f"day{day}")
        _wait(lambda day=day: any(f"day{day}" in m["body"] and m["attempts"] for m in svix_fake.webhook_messages()))  # type: ignore[misc]
    (endpoint,) = svix_fake.webhook_endpoints().values()
    assert endpoint["disabled"] is False

    # when the failures have lasted five days
    svix_fake.advance_clock(24 * 3600)
    _sale_paid(svix_fake, svix_client, "day5")
    _wait(lambda: next(iter(svix_fake.webhook_endpoints().values()))["disabled"])

    # then nothing more is sent: queued retries and new events are dropped unsent
    sent = len(webhook_receiver.received)
    _sale_paid(svix_fake, svix_client, "day5b")
    svix_fake.advance_clock(48 * 3600)
    time.sleep(0.3)
    assert len(webhook_receiver.received) == sent
    newest = next(m for m in svix_fake.webhook_messages() if "day5b" in m["body"])
    assert newest["attempts"] == [] and newest["dropped"] == "endpoint_disabled"
    assert not any(m["delivered"] for m in svix_fake.webhook_messages())

    # and configuring the endpoint again enables it
    webhook_receiver.statuses = []
    svix_fake.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    _sale_paid(svix_fake, svix_client, "back")
    _wait(lambda: any("back" in m["body"] and m["delivered"] for m in svix_fake.webhook_messages()))


def test_a_success_resets_the_failing_streak(
    svix_fake: FakeBlink, svix_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.statuses = [500]
    svix_fake.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    _sale_paid(svix_fake, svix_client, "flaky")
    _wait(lambda: next(iter(svix_fake.webhook_endpoints().values()))["failing_since"] is not None)

    svix_fake.advance_clock(5)
    _wait(lambda: _only_message(svix_fake)["delivered"])

    (endpoint,) = svix_fake.webhook_endpoints().values()
    assert endpoint == {"url": webhook_receiver.url, "failing_since": None, "disabled": False}


def _amount_styles(seed: int, share: float, sales: int) -> list[type]:
    fake = FakeBlink(platform_api_key=PLATFORM_KEY, seed=seed, webhook_string_amounts=share)
    fake.start()
    try:
        fake.configure_webhooks("http://127.0.0.1:9/unused", WEBHOOK_SECRET)
        with client_for(fake) as client:
            for n in range(sales):
                _sale_paid(fake, client, f"s{n}")
        bodies = [json.loads(m["body"]) for m in fake.webhook_messages()]
        return [type(b["transaction"]["settlementAmount"]) for b in bodies]
    finally:
        fake.stop()


def test_settlement_amounts_are_strings_in_a_seeded_share_of_messages() -> None:
    # when two fakes with the same seed send the same events
    first = _amount_styles(seed=5, share=0.5, sales=12)
    again = _amount_styles(seed=5, share=0.5, sales=12)

    # then both styles occur, in the same order each time
    assert first == again
    assert set(first) == {int, str}
    assert set(_amount_styles(seed=5, share=1.0, sales=2)) == {str}
    assert set(_amount_styles(seed=5, share=0.0, sales=2)) == {int}


def test_string_amounts_keep_the_value_and_the_signature(
    svix_fake: FakeBlink, svix_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    svix_fake.set_webhook_string_amounts(1.0)
    svix_fake.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    _sale_paid(svix_fake, svix_client, "str")
    assert webhook_receiver.wait(1)

    _, body = webhook_receiver.received[0]
    tx = json.loads(body)["transaction"]
    assert tx["settlementAmount"] == "21" and tx["settlementFee"] == "0"
