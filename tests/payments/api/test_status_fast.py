"""The status poll's fast path (payments.api.status_fast): one Redis round trip and no SQL on a hot hit,
and the same answers as the DRF view (``API_STATUS_FAST_PATH = False`` forces that view) in every case."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from blinkpos import auth_throttle
from payments import store
from payments.api.status_fast import render
from payments.api.status_payload import InvoiceStatusSerializer, status_body, status_payload
from payments.models import PaymentSplit, SplitStatus, Terminal
from payments.services.terminals import terminal_revoke
from tests.factories import MerchantFactory, PaymentSplitFactory, TerminalFactory, UserFactory, random_hash
from tests.payments.api.conftest import Shop

pytestmark = pytest.mark.django_db
URL = "/api/v1/invoices"
IP = "127.0.0.1"  # django.test.Client's REMOTE_ADDR
NOT_FOUND = {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def hot(shop: Shop, **kwargs: Any) -> PaymentSplit:
    split = PaymentSplitFactory(merchant=shop.merchant, terminal=shop.terminal, **kwargs)
    store.put(split)
    return split


def poll(api: Client, shop: Shop, payment_hash: str, **extra: Any) -> Any:
    return api.get(f"{URL}/{payment_hash}", **shop.auth, **extra)


def remembered(api: Client, shop: Shop) -> None:
    """One poll through the DRF path: this process now remembers the terminal (the fast path's
    precondition) and the once-a-minute last-used marker is claimed."""
    assert api.get(f"{URL}/{random_hash()}", **shop.auth).status_code == 404


def counter(name: str) -> int:
    return int(get_redis_connection("hot").get(store.COUNTER_KEY.format(name=name)) or 0)


def rate_counts(shop: Shop) -> dict[str, int]:
    conn = get_redis_connection("default")
    return {
        key.decode().split(":")[1]: int(conn.get(key) or 0)
        for key in conn.scan_iter("ratelimit:*")
        if not key.startswith(b"ratelimit:authfail:")
    }


VARIED: list[dict[str, Any]] = [
    # fiat with display amounts and a tip percent, nothing paid yet
    {
        "display_currency": "USD",
        "base_amount_display": Decimal("6.50000000"),
        "tip_amount_display": Decimal("0.97500000"),
        "tip_percent": Decimal("15.00"),
        "tip_recipient": "team:Floor",
        "memo": "Table 4 \u2028 caf\u00e9 \u2603",
    },
    # no display amounts, no tip percent (fixed tip in sats), empty memo
    {"display_currency": "USD", "tip_percent": None, "memo": ""},
    # BTC keeps 8 places; a fractional percent; paid and processed timestamps
    {
        "display_currency": "BTC",
        "base_amount_display": Decimal("0.00001000"),
        "tip_amount_display": Decimal("0.00000150"),
        "tip_percent": Decimal("7.25"),
        "status": SplitStatus.PROCESSING,
        "paid_at": timezone.now() - timedelta(seconds=3),
        "processed_at": timezone.now(),
    },
    # a whole percent and a paid (not yet processed) invoice in another currency
    {
        "display_currency": "EUR",
        "base_amount_display": Decimal("12.00000000"),
        "tip_amount_display": Decimal("0E-8"),
        "tip_percent": Decimal("0.00"),
        "status": SplitStatus.PAID,
        "paid_at": timezone.now(),
    },
]


@pytest.mark.parametrize("fields", VARIED)
def test_status_body_equals_the_serializer_output(shop: Shop, fields: dict[str, Any]) -> None:
    document = store.snapshot(PaymentSplitFactory(merchant=shop.merchant, terminal=shop.terminal, **fields))
    assert status_body(document) == dict(InvoiceStatusSerializer(status_payload(document)).data)
    # and the serializer's quirks are covered: tip_percent always has two places, blank stamps are null
    assert status_body({**document, "tipPercent": "15", "paidAt": ""})["tip_percent"] == "15.00"
    assert status_body({**document, "tipPercent": "15", "paidAt": ""}) == dict(
        InvoiceStatusSerializer(status_payload({**document, "tipPercent": "15", "paidAt": ""})).data
    )


@pytest.mark.parametrize("fields", VARIED)
def test_fast_answer_is_byte_for_byte_the_drf_answer(
    api: Client, shop: Shop, settings: Any, round_trips: list[bytes], fields: dict[str, Any]
) -> None:
    split = hot(shop, **fields)
    remembered(api, shop)

    round_trips.clear()
    fast = poll(api, shop, split.payment_hash)
    assert len(round_trips) == 1  # the fast path answered
    settings.API_STATUS_FAST_PATH = False
    slow = poll(api, shop, split.payment_hash)

    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content
    assert dict(fast.items()) == dict(slow.items())
    assert fast["Cache-Control"] == "no-store, private" and fast["Content-Type"] == "application/json"
    assert fast.content == render(status_body(store.snapshot(split)))
    assert fast.json()["payment_hash"] == split.payment_hash


def test_hot_hit_is_one_redis_round_trip_and_no_sql(
    api: Client, shop: Shop, round_trips: list[bytes], django_assert_num_queries: Any
) -> None:
    split = hot(shop)
    remembered(api, shop)
    hits = counter("hits")

    round_trips.clear()
    with django_assert_num_queries(0):
        response = poll(api, shop, split.payment_hash)

    assert response.status_code == 200 and response.json()["total_sats"] == 1150
    assert len(round_trips) == 1 and round_trips[0].startswith(b"*")
    assert b"EVALSHA" in round_trips[0] or b"EVAL" in round_trips[0]
    # the one round trip did what the four of the DRF path did: both rate counters, the hit count
    assert rate_counts(shop) == {"terminal": 2, "merchant": 2}
    assert counter("hits") == hits + 1
    # and a second hot poll is the same single round trip (the script is cached by the server)
    round_trips.clear()
    assert poll(api, shop, split.payment_hash).status_code == 200
    assert len(round_trips) == 1 and b"EVALSHA" in round_trips[0]


def test_fast_path_records_last_use_once_a_minute(
    api: Client, shop: Shop, round_trips: list[bytes], django_assert_num_queries: Any
) -> None:
    split = hot(shop)
    remembered(api, shop)
    get_redis_connection("default").delete(f"terminal:touched:{shop.terminal.pk}")
    Terminal.objects.filter(pk=shop.terminal.pk).update(last_used_at=None)

    round_trips.clear()
    with django_assert_num_queries(1):  # the UPDATE, once: this poll claimed the marker
        assert poll(api, shop, split.payment_hash).status_code == 200
    assert len(round_trips) == 1
    first = Terminal.objects.get(pk=shop.terminal.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        assert poll(api, shop, split.payment_hash).status_code == 200
    assert Terminal.objects.get(pk=shop.terminal.pk).last_used_at == first


def test_cold_miss_is_served_from_postgres_and_rewarmed(api: Client, shop: Shop, round_trips: list[bytes]) -> None:
    split = PaymentSplitFactory(merchant=shop.merchant, terminal=shop.terminal, display_currency="USD")
    remembered(api, shop)
    assert not get_redis_connection("hot").exists(store.tip_key(split.payment_hash))

    response = poll(api, shop, split.payment_hash.upper())

    assert response.status_code == 200
    assert response.json() == status_body(store.snapshot(split))
    assert get_redis_connection("hot").exists(store.tip_key(split.payment_hash))
    assert counter("misses") == 2  # remembered()'s unknown hash, then this one
    round_trips.clear()
    assert poll(api, shop, split.payment_hash).status_code == 200
    assert len(round_trips) == 1


def test_finished_split_is_served_from_postgres_and_not_rewarmed(api: Client, shop: Shop) -> None:
    split = PaymentSplitFactory(merchant=shop.merchant, status=SplitStatus.COMPLETED)
    remembered(api, shop)
    response = poll(api, shop, split.payment_hash)
    assert response.status_code == 200 and response.json()["status"] == "completed"
    assert not get_redis_connection("hot").exists(store.tip_key(split.payment_hash))


def test_unknown_and_other_merchants_hash_are_the_same_404(
    api: Client, shop: Shop, make_shop: Callable[[str], Shop], settings: Any, round_trips: list[bytes]
) -> None:
    other = make_shop("shopz")
    theirs = hot(other)
    remembered(api, shop)

    round_trips.clear()
    unknown = poll(api, shop, random_hash())
    foreign = poll(api, shop, theirs.payment_hash)
    malformed = poll(api, shop, "not-a-hash")
    # the malformed and the foreign hash: the script alone; the unknown one: the script, then the
    # store's own miss path (GET, miss count) before PostgreSQL says it does not exist
    assert len(round_trips) == 3 + 1 + 1

    for response in (unknown, foreign, malformed):
        assert response.status_code == 404 and response.json() == NOT_FOUND
        assert response["Cache-Control"] == "no-store, private"
    settings.API_STATUS_FAST_PATH = False
    slow = poll(api, shop, theirs.payment_hash)
    assert (slow.status_code, slow.content, dict(slow.items())) == (404, foreign.content, dict(foreign.items()))
    # the owner still sees it
    assert poll(api, other, theirs.payment_hash).status_code == 200


@pytest.mark.usefixtures("inside_one_rate_window")
@pytest.mark.parametrize("scope", ["terminal", "merchant"])
def test_rate_limit_is_429_with_retry_after(
    api: Client, shop: Shop, settings: Any, round_trips: list[bytes], scope: str
) -> None:
    settings.API_RATE_LIMITS = {"terminal": "1000/min", "merchant": "1000/min", scope: "3/min"}
    split = hot(shop)
    remembered(api, shop)  # 1
    assert poll(api, shop, split.payment_hash).status_code == 200  # 2
    assert poll(api, shop, split.payment_hash).status_code == 200  # 3
    hits = counter("hits")

    round_trips.clear()
    limited = poll(api, shop, split.payment_hash)

    assert len(round_trips) == 1
    assert limited.status_code == 429
    body = limited.json()["error"]
    assert body["code"] == "rate_limited" and body["fields"] == {}
    match = re.fullmatch(r"Request was throttled\. Expected available in (\d+) seconds?\.", body["message"])
    assert match is not None and match.group(1) == limited["Retry-After"]
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["Cache-Control"] == "no-store, private"
    assert counter("hits") == hits  # a refused poll does not read the store
    # the DRF path gives the same answer (up to the second it names)
    settings.API_STATUS_FAST_PATH = False
    slow = poll(api, shop, split.payment_hash)
    assert slow.status_code == 429 and slow.json()["error"]["code"] == "rate_limited"
    assert set(slow.headers) == set(limited.headers)


def test_blocked_address_gets_429_even_with_a_valid_remembered_key(
    api: Client, shop: Shop, settings: Any, round_trips: list[bytes]
) -> None:
    settings.AUTH_FAILURE_LIMITS = {"login": [5, 900], "api_key": [3, 600]}
    split = hot(shop)
    remembered(api, shop)
    before = rate_counts(shop)
    get_redis_connection("default").set(auth_throttle.failure_key("api_key", IP), 3)
    hits = counter("hits")

    round_trips.clear()
    blocked = poll(api, shop, split.payment_hash)

    assert len(round_trips) == 1
    assert blocked.status_code == 429
    assert blocked.json() == {
        "error": {"code": "too_many_attempts", "message": "Too many failed attempts. Try again later.", "fields": {}}
    }
    assert blocked["Retry-After"] == "600"
    # refused before anything else happened: no rate count, no store read
    assert rate_counts(shop) == before and counter("hits") == hits
    # another address is unaffected
    assert Client(REMOTE_ADDR="192.0.2.50").get(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 200


def test_bad_and_revoked_keys_are_401_and_count_toward_the_block(
    api: Client, shop: Shop, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.AUTH_FAILURE_LIMITS = {"login": [5, 900], "api_key": [3, 600]}
    split = hot(shop)
    remembered(api, shop)
    prefix = shop.key.split("_")[1]

    wrong_secret = api.get(f"{URL}/{split.payment_hash}", HTTP_AUTHORIZATION=f"Api-Key bpos_{prefix}_wrong")
    garbage = api.get(f"{URL}/{split.payment_hash}", HTTP_AUTHORIZATION="Api-Key nonsense")
    for response in (wrong_secret, garbage):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
        assert response.json()["error"]["code"] == "authentication_failed"
    assert auth_throttle.failures("api_key", IP) == 2

    with django_capture_on_commit_callbacks(execute=True):
        terminal_revoke(terminal=shop.terminal)
    revoked = poll(api, shop, split.payment_hash)
    assert revoked.status_code == 401 and revoked["WWW-Authenticate"] == "Api-Key"
    assert auth_throttle.failures("api_key", IP) == 3

    # the limit is reached: even a good key from this address is refused, without saying whether it is good
    fresh = TerminalFactory(merchant=shop.merchant)
    refused = api.get(f"{URL}/{split.payment_hash}", HTTP_AUTHORIZATION=f"Api-Key {fresh.plain_key}")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_attempts"


@pytest.fixture
def redis_down() -> Iterator[None]:
    caches = copy.deepcopy(django_settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with override_settings(CACHES=caches):
        yield


def test_redis_down_is_still_served_from_postgres(api: Client, shop: Shop, request: pytest.FixtureRequest) -> None:
    split = hot(shop, display_currency="USD")
    remembered(api, shop)  # the key is remembered, so the fast path is tried first
    request.getfixturevalue("redis_down")

    response = poll(api, shop, split.payment_hash)

    assert response.status_code == 200
    assert response.json() == status_body(store.snapshot(split))
    assert response["Cache-Control"] == "no-store, private"
    assert store.unflushed_counts().get("fallbacks") == 1  # the DRF path's PostgreSQL fallback answered


def test_unusual_requests_take_the_drf_path(api: Client, shop: Shop, round_trips: list[bytes]) -> None:
    split = hot(shop)
    remembered(api, shop)

    round_trips.clear()
    assert poll(api, shop, split.payment_hash, HTTP_ACCEPT="text/html").status_code == 406
    assert poll(api, shop, split.payment_hash, HTTP_ACCEPT="application/json; indent=4").content.startswith(b"{\n")
    assert api.head(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 200
    assert api.post(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 405
    # DRF path: block check, rate pipeline, store GET, hit count (HEAD and the 406/indent GETs)
    assert len(round_trips) > 4


def test_signed_in_merchant_user_polls_through_the_drf_path() -> None:
    user = UserFactory(username="poll_owner")
    merchant = MerchantFactory(user=user)
    split = PaymentSplitFactory(merchant=merchant)
    browser = Client()
    browser.force_login(user)
    response = browser.get(f"{URL}/{split.payment_hash}")
    assert response.status_code == 200 and response.json()["payment_hash"] == split.payment_hash
    assert Client().get(f"{URL}/{split.payment_hash}").status_code in (401, 403)


def test_schema_still_documents_the_poll_as_invoice_detail_api() -> None:
    import yaml

    schema = yaml.safe_load(Client().get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/invoices/{payment_hash}"]["get"]
    assert operation["operationId"] == "invoices_retrieve"
    assert operation["summary"] == "Invoice status (poll)"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/InvoiceStatus"}
    assert set(operation["responses"]) == {"200", "401", "403", "404", "429"}
    assert operation["security"] == [{"TerminalApiKey": []}, {"cookieAuth": []}]
    assert list(schema["paths"]["/api/v1/invoices/{payment_hash}"]) == ["get"]
