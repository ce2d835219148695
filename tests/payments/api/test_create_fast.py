"""The create's fast path (payments.api.create_fast): the DRF view's answers (``API_CREATE_FAST_PATH =
False`` forces that view), with the auth block, both rate counters and the "last used" marker in ONE
Redis round trip; every refused or unusual request is answered by the DRF view, counted once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django_redis import get_redis_connection

from blinkpos import auth_throttle
from fakeblink import FakeBlink
from payments import store
from payments.models import PaymentSplit
from tests.payments.api.conftest import Shop
from tests.payments.api.test_invoice_create import COMMITS, assert_nothing_written, invoice_creates, post
from tests.payments.api.test_status_fast import IP, rate_counts

URL = "/api/v1/invoices"
BODY = {"amount_sats": 1000, "tip_percent": "15", "split_profile_id": 0, "memo": "caf\u00e9 \u2028"}


def body(shop: Shop, **changes: Any) -> dict[str, Any]:
    return {**BODY, "split_profile_id": shop.team.pk, **changes}


def remember(api: Client, shop: Shop) -> None:
    """One poll through the DRF path: this process now remembers the terminal's key."""
    assert api.get(f"{URL}/{'0' * 64}", **shop.auth).status_code == 404


def evals(sent: list[bytes]) -> int:
    """The fast path's admission scripts: the only script with the auth-failure counter among its keys
    (the account's limits script runs on both paths)."""
    return sum((b"EVALSHA" in s or b"\r\nEVAL\r\n" in s) and b"ratelimit:authfail:" in s for s in sent)


@COMMITS
def test_replay_is_byte_for_byte_the_drf_answer_and_a_fresh_create_has_its_shape(
    api: Client, shop: Shop, settings: Any, round_trips: list[bytes]
) -> None:
    remember(api, shop)
    round_trips.clear()
    fast = post(api, shop, body(shop), HTTP_IDEMPOTENCY_KEY="k1")
    assert fast.status_code == 201 and evals(round_trips) == 1  # the fast path answered
    fast_replay = post(api, shop, body(shop), HTTP_IDEMPOTENCY_KEY="k1")
    settings.API_CREATE_FAST_PATH = False
    round_trips.clear()
    slow_replay = post(api, shop, body(shop), HTTP_IDEMPOTENCY_KEY="k1")
    slow = post(api, shop, body(shop), HTTP_IDEMPOTENCY_KEY="k2")
    assert evals(round_trips) == 0  # the DRF view answered

    assert fast_replay.status_code == slow_replay.status_code == 201
    assert fast_replay.content == slow_replay.content and fast_replay.json() == fast.json()
    assert dict(fast_replay.items()) == dict(slow_replay.items())
    assert fast_replay["Idempotent-Replayed"] == "true"
    # two fresh creates: the same headers and fields, each with its own invoice
    assert slow.status_code == 201 and set(dict(fast.items())) == set(dict(slow.items()))
    assert fast["Location"] == f"{URL}/{fast.json()['payment_hash']}"
    assert fast["Cache-Control"] == "no-store, private" and fast["Allow"] == slow["Allow"]
    ignore = {"payment_hash", "payment_request", "qr_svg_url", "created_at", "expires_at"}
    strip = lambda r: {k: v for k, v in r.json().items() if k not in ignore}  # noqa: E731
    assert strip(fast) == strip(slow)
    assert PaymentSplit.objects.count() == 2
    assert store.snapshot(PaymentSplit.objects.get(payment_hash=fast.json()["payment_hash"]))["memo"] == BODY["memo"]


@COMMITS
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_sats": "12x"}, "amount_sats"),
        ({"amount_sats": None}, "amount_sats"),
        ({"tip_percent": "150"}, "tip_percent"),
        ({"colour": "red"}, "colour"),
        ({"currency": "X" * 11}, "currency"),
        ({"split_profile_id": 10**9}, "split_profile_id"),  # valid shape, refused by the service
    ],
)
def test_refused_input_is_the_drf_answer_counted_once(
    api: Client, shop: Shop, settings: Any, fake_blink: FakeBlink, changes: dict[str, Any], field: str
) -> None:
    remember(api, shop)
    before = rate_counts(shop)
    fast = post(api, shop, body(shop, **changes))
    assert rate_counts(shop) == {k: v + 1 for k, v in before.items()}
    settings.API_CREATE_FAST_PATH = False
    slow = post(api, shop, body(shop, **changes))
    assert fast.status_code == slow.status_code == 400
    assert fast.content == slow.content and field in fast.json()["error"]["fields"]
    assert dict(fast.items()) == dict(slow.items())
    assert_nothing_written(fake_blink)


@COMMITS
@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b"", json.dumps({"amount_sats": 1}).encode() + b" " * 2_000_000]
)
def test_malformed_or_oversized_bodies_are_the_drf_answer(
    api: Client, shop: Shop, settings: Any, fake_blink: FakeBlink, raw: bytes
) -> None:
    remember(api, shop)
    fast = api.post(URL, data=raw, content_type="application/json", **shop.auth)
    settings.API_CREATE_FAST_PATH = False
    slow = api.post(URL, data=raw, content_type="application/json", **shop.auth)
    assert fast.status_code == slow.status_code and fast.status_code in (400, 413)
    assert fast.content == slow.content
    assert_nothing_written(fake_blink)


@COMMITS
def test_rate_limited_create_is_429_with_retry_after_and_nothing_written(
    api: Client, shop: Shop, settings: Any, fake_blink: FakeBlink, inside_one_rate_window: None
) -> None:
    remember(api, shop)  # counted: 1 of 2
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "terminal": "2/min"}
    assert post(api, shop, {"amount_sats": 1}).status_code == 201  # 2 of 2
    limited = post(api, shop, body(shop))
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert invoice_creates(fake_blink) == 1


@COMMITS
def test_blocked_address_is_refused_before_anything_counts(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    remember(api, shop)
    before = rate_counts(shop)
    limit, _ = auth_throttle.limits("api_key")
    get_redis_connection("default").set(auth_throttle.failure_key("api_key", IP), limit)
    refused = post(api, shop, body(shop))
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"
    assert rate_counts(shop) == before
    assert_nothing_written(fake_blink)


@COMMITS
def test_a_key_this_process_does_not_remember_is_checked_by_the_drf_view(
    api: Client, shop: Shop, fake_blink: FakeBlink
) -> None:
    wrong = api.post(
        URL, data=json.dumps(body(shop)), content_type="application/json", HTTP_AUTHORIZATION="Api-Key nope"
    )
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == "Api-Key"
    assert_nothing_written(fake_blink)
