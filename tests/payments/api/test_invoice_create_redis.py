"""The create's Redis round trips (``POST /api/v1/invoices``): the account's block check and rate count
in one script before Blink is asked, the writes after the commit (``tip:{hash}``, the status publish,
the latency sample) in one pipeline. A refused create counts nothing and never reaches Blink; Redis
failing before or after the provider call answers exactly as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_redis import get_redis_connection
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from structlog.testing import capture_logs

from fakeblink import FakeBlink
from payments import provider_limits, redis_batch, store
from payments.metrics import LATENCY_KEY
from payments.models import PaymentEvent, PaymentSplit
from payments.provider_limits import invoice_block_key, invoice_rate_key
from payments.services.status_publish import channel
from tests.payments.api.conftest import Shop, tip_keys

URL = "/api/v1/invoices"
pytestmark = pytest.mark.django_db(transaction=True)
SALE = {"amount_sats": 1000, "tip_percent": "15"}


def post(api: Client, shop: Shop, body: Any) -> Any:
    return api.post(URL, data=json.dumps(body), content_type="application/json", **shop.auth)


def invoice_creates(fake: FakeBlink) -> int:
    return sum("lnInvoiceCreate" in r["operations"] for r in fake.requests())


def _redis() -> Redis:
    return get_redis_connection("default")


def _unreachable(_alias: str = "") -> Redis:
    return Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def test_a_create_is_three_round_trips_and_writes_what_it_wrote_before(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes]
) -> None:
    # given a first create (the price cached, the scripts loaded), and a stream listening
    assert post(api, shop, SALE).status_code == 201
    # (on a client of its own: a subscribed connection leaves the app's pool)
    listener = Redis.from_url(django_settings.REDIS_URL).pubsub()
    listener.subscribe(channel())
    assert listener.get_message(timeout=1)["type"] == "subscribe"
    round_trips.clear()

    # when
    response = post(api, shop, SALE)

    # then the key's admission, the account's limits, the writes after the commit (the price is still
    # in this process's memory: payments/services/pricing.py)
    assert response.status_code == 201, response.content
    assert len(round_trips) == 3
    payment_hash = response.json()["payment_hash"]
    assert json.loads(_redis().get(store.tip_key(payment_hash))) == json.loads(
        json.dumps(store.snapshot(PaymentSplit.objects.get(payment_hash=payment_hash)))
    )
    assert 0 < _redis().ttl(store.tip_key(payment_hash)) <= django_settings.CACHE_TTLS["tip_max"]
    message = listener.get_message(timeout=1)
    event = PaymentEvent.objects.get(split_id=payment_hash, event_type="created")
    assert message is not None and json.loads(message["data"]) == {
        "h": payment_hash,
        "t": shop.terminal.pk,
        "id": event.pk,
    }
    assert _redis().llen(LATENCY_KEY.format(name="create_invoice")) == 2
    assert int(_redis().get(invoice_rate_key(None))) == 2
    listener.close()


def test_a_blocked_account_counts_nothing_and_never_reaches_blink(
    api: Client, shop: Shop, fake_blink: FakeBlink
) -> None:
    _redis().set(invoice_block_key(None), "1", ex=120)

    response = post(api, shop, SALE)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "provider_rate_limited"
    assert 119 <= int(response["Retry-After"]) <= 120
    assert _redis().exists(invoice_rate_key(None)) == 0
    assert invoice_creates(fake_blink) == 0
    assert PaymentSplit.objects.count() == 0 and tip_keys() == []


def test_past_its_points_a_create_counts_once_and_never_reaches_blink(
    api: Client, shop: Shop, fake_blink: FakeBlink, settings: Any
) -> None:
    settings.BLINK_INVOICE_RATE_POINTS = 1
    assert post(api, shop, SALE).status_code == 201

    response = post(api, shop, SALE)

    assert response.status_code == 429 and response.json()["error"]["code"] == "provider_rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 61
    assert int(_redis().get(invoice_rate_key(None))) == 2  # the refused attempt counted, as before
    assert invoice_creates(fake_blink) == 1
    assert PaymentSplit.objects.count() == 1


def test_a_refused_input_counts_nothing(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    response = post(api, shop, {"amount_sats": 1000, "tip_sats": 10**12})

    assert response.status_code == 400
    assert _redis().exists(invoice_rate_key(None)) == 0
    assert invoice_creates(fake_blink) == 0


def test_redis_failing_at_the_limits_lets_blink_decide(
    api: Client, shop: Shop, fake_blink: FakeBlink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_limits, "get_redis_connection", _unreachable)

    with capture_logs() as logs:
        response = post(api, shop, SALE)

    assert response.status_code == 201, response.content
    assert invoice_creates(fake_blink) == 1
    assert [e["event"] for e in logs].count("provider_limits.redis_unavailable") == 1
    assert _redis().exists(invoice_rate_key(None)) == 0
    assert len(tip_keys()) == 1  # the rest of the create unchanged


def test_redis_failing_after_the_commit_still_answers_201_and_logs_each_write(
    api: Client, shop: Shop, fake_blink: FakeBlink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_batch, "get_redis_connection", _unreachable)

    with capture_logs() as logs:
        response = post(api, shop, SALE)

    assert response.status_code == 201, response.content
    payment_hash = response.json()["payment_hash"]
    events = [e["event"] for e in logs]
    assert "hotstore.put_failed" in events and "status_stream.publish_failed" in events
    assert tip_keys() == []
    assert _redis().llen(LATENCY_KEY.format(name="create_invoice")) == 0
    # the split is committed: the poll answers from PostgreSQL and re-warms the key
    document = store.get(payment_hash)
    assert document is not None and document["status"] == "pending"
    assert len(tip_keys()) == 1
