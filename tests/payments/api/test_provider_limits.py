"""Blink's invoice rate limit reached on the platform account (payments/provider_limits.py): the POS API
and the web POS answer a clean 429 ``provider_rate_limited`` whose Retry-After names the wait, write
nothing, leave no Idempotency-Key claimed, stop asking Blink until the block is over, and alert."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from analytics.services.metrics import alerts_evaluate, metrics_collect
from fakeblink import FakeBlink
from payments.models import IdempotencyRecord, PaymentEvent, PaymentLeg, PaymentSplit
from payments.provider_limits import invoice_block_key, invoice_block_remaining
from tests.factories import MerchantFactory, UserFactory
from tests.payments.api.conftest import Shop, tip_keys

URL = "/api/v1/invoices"
pytestmark = pytest.mark.django_db(transaction=True)


def post(api: Client, shop: Shop, body: Any, **headers: str) -> Any:
    return api.post(URL, data=json.dumps(body), content_type="application/json", **shop.auth, **headers)


def invoice_creates(fake: FakeBlink) -> int:
    return sum("lnInvoiceCreate" in r["operations"] for r in fake.requests())


def rows() -> tuple[int, int, int, int]:
    return (
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
        PaymentEvent.objects.count(),
        IdempotencyRecord.objects.count(),
    )


def test_the_61st_invoice_in_a_minute_is_a_clean_429_and_nothing_is_written(
    api: Client, shop: Shop, fake_blink: FakeBlink
) -> None:
    # given Blink's own limits on the platform account, and 60 sales this minute
    fake_blink.configure_limits({"invoice_rate": {}})  # Blink's defaults: 60 / 60 s, then 300 s blocked
    for n in range(60):
        assert post(api, shop, {"amount_sats": 100}, HTTP_IDEMPOTENCY_KEY=f"sale-{n}").status_code == 201
    before = rows()

    # when the 61st comes
    response = post(api, shop, {"amount_sats": 100, "tip_percent": "10"}, HTTP_IDEMPOTENCY_KEY="sale-60")

    # then a 429 that names the wait, in the one error format
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "provider_rate_limited"
    assert 290 <= int(response["Retry-After"]) <= 300
    assert response["Retry-After"] in error["message"]
    # and nothing was written: no split, leg or event, no hot key, the Idempotency-Key not left claimed
    assert rows() == before
    assert not IdempotencyRecord.objects.filter(key="sale-60").exists()
    assert len(tip_keys()) == 60

    # and while the block lasts, creates are refused without asking Blink (same key: not a 409)
    asked = invoice_creates(fake_blink)
    again = post(api, shop, {"amount_sats": 100, "tip_percent": "10"}, HTTP_IDEMPOTENCY_KEY="sale-60")
    assert again.status_code == 429 and again.json()["error"]["code"] == "provider_rate_limited"
    assert int(again["Retry-After"]) <= int(response["Retry-After"])
    assert invoice_creates(fake_blink) == asked
    assert rows() == before

    # and the metrics snapshot raises an alert naming the wait
    alerts = {a.name: a for a in alerts_evaluate(metrics_collect())}
    assert 0 < alerts["provider_invoice_rate_limited"].value <= 300


def test_creates_work_again_when_the_block_is_over(
    api: Client, shop: Shop, fake_blink: FakeBlink, settings: Any
) -> None:
    # given a short block at Blink, and BlinkPOS told how long Blink blocks
    settings.BLINK_INVOICE_BLOCK_SECONDS = 1
    fake_blink.configure_limits({"invoice_rate": {"points": 1, "block_seconds": 1}})
    assert post(api, shop, {"amount_sats": 100}).status_code == 201
    refused = post(api, shop, {"amount_sats": 100}, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert refused.status_code == 429 and refused["Retry-After"] == "1"

    # when the block is over (Blink's clock and Redis's expiry both move on)
    fake_blink.advance_clock(1)
    deadline = time.monotonic() + 3
    while invoice_block_remaining() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # then the same request with the same key creates the invoice
    created = post(api, shop, {"amount_sats": 100}, HTTP_IDEMPOTENCY_KEY="retry-me")
    assert created.status_code == 201
    assert PaymentSplit.objects.count() == 2


def test_a_gateway_429_is_a_429_with_its_retry_after(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    fake_blink.script("lnInvoiceCreate", ["HTTP_429"])  # the gateway says Retry-After: 2

    response = post(api, shop, {"amount_sats": 100}, HTTP_IDEMPOTENCY_KEY="gw")

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "provider_rate_limited"
    assert response["Retry-After"] == "2"
    assert rows() == (0, 0, 0, 0) and tip_keys() == []


def test_the_web_pos_gets_the_same_429(fake_blink: FakeBlink, shop: Shop) -> None:
    # given a signed-in merchant whose platform account is blocked at Blink
    merchant = MerchantFactory(user=UserFactory(username="pos-owner"), wallet_id=shop.merchant.wallet_id)
    web = Client()
    web.force_login(merchant.user)
    fake_blink.configure_limits({"invoice_rate": {"points": 1}})
    assert web.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"}).status_code == 201

    # when the cashier creates the next sale
    response = web.post(reverse("dashboard:pos-create"), {"unit": "sats", "amount": "500"})

    # then
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "provider_rate_limited"
    assert 290 <= int(response["Retry-After"]) <= 300
    assert PaymentSplit.objects.count() == 1
    # an API terminal of another merchant is refused too: the block is the platform account's
    assert post(Client(), shop, {"amount_sats": 100}).status_code == 429


def test_without_redis_memory_blink_is_asked_and_still_refuses(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    # given a block Blink holds but BlinkPOS forgot (Redis flushed)
    fake_blink.configure_limits({"invoice_rate": {"points": 1}})
    assert post(api, shop, {"amount_sats": 100}).status_code == 201
    assert post(api, shop, {"amount_sats": 100}).status_code == 429
    from django_redis import get_redis_connection

    get_redis_connection("default").delete(invoice_block_key(None))

    # when, then: Blink refuses again, and the answer is the same clean 429
    response = post(api, shop, {"amount_sats": 100})
    assert response.status_code == 429 and response.json()["error"]["code"] == "provider_rate_limited"
    assert PaymentSplit.objects.count() == 1
