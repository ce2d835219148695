"""Sign-in and API-key guessing are rate limited (blinkpos.auth_throttle)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from payments.terminal_keys import forget_local
from tests.security.conftest import PASSWORD, Shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {"login": [5, 900], "api_key": [8, 600]}


def test_failed_logins_are_refused_after_the_limit_even_with_the_right_password(shop_a: Shop) -> None:
    client = Client()
    for _ in range(5):
        assert client.post("/login/", {"username": shop_a.username, "password": "wrong"}).status_code == 200
    blocked = client.post("/login/", {"username": shop_a.username, "password": PASSWORD})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_login_limit_is_per_username_across_addresses(shop_a: Shop) -> None:
    for i in range(5):
        Client(REMOTE_ADDR=f"10.0.0.{i + 1}").post("/login/", {"username": shop_a.username, "password": "x"})
    response = Client(REMOTE_ADDR="10.0.1.1").post("/login/", {"username": shop_a.username, "password": PASSWORD})
    assert response.status_code == 429
    # another user from a fresh address is not affected
    other = Client(REMOTE_ADDR="10.0.2.1").post("/login/", {"username": "someone_else", "password": "x"})
    assert other.status_code == 200


def test_a_good_login_is_not_counted(shop_a: Shop) -> None:
    for _ in range(8):
        client = Client()
        assert client.post("/login/", {"username": shop_a.username, "password": PASSWORD}).status_code == 302


def test_admin_login_is_limited_too(shop_a: Shop, settings: Any) -> None:
    url = "/" + settings.ADMIN_URL.strip("/") + "/login/"
    client = Client()
    for _ in range(5):
        client.post(url, {"username": shop_a.username, "password": "wrong"})
    assert client.post(url, {"username": shop_a.username, "password": "wrong"}).status_code == 429


def test_api_key_guessing_is_refused_after_the_limit(shop_a: Shop) -> None:
    guesser = Client(REMOTE_ADDR="192.0.2.7")
    for i in range(8):
        response = guesser.get("/api/v1/merchant", HTTP_AUTHORIZATION=f"Api-Key bpos_deadbeef_guess{i}")
        assert response.status_code == 401
    blocked = guesser.get("/api/v1/merchant", HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts" and int(blocked["Retry-After"]) > 0
    # the terminal itself, from its own address, keeps working
    ok = Client(REMOTE_ADDR="192.0.2.8").get("/api/v1/merchant", HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}")
    assert ok.status_code == 200


def test_redis_keys_name_no_user_or_address(shop_a: Shop) -> None:
    from django_redis import get_redis_connection

    Client(REMOTE_ADDR="198.51.100.9").post("/login/", {"username": shop_a.username, "password": "x"})
    keys = [k.decode() for k in get_redis_connection("default").scan_iter("ratelimit:authfail:*")]
    assert len(keys) == 2
    assert not any(shop_a.username in k or "198.51.100.9" in k for k in keys)


def test_status_poll_is_blocked_too_whether_or_not_the_key_is_remembered(shop_a: Shop) -> None:
    # The poll checks the block itself (payments.api.status_fast), in its one Redis round trip when
    # this process remembers the key and with the middleware's GET otherwise.
    poll = f"/api/v1/invoices/{shop_a.pending.payment_hash}"
    guesser = Client(REMOTE_ADDR="192.0.2.30")
    assert guesser.get(poll, HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}").status_code == 200  # remembered now
    for i in range(8):
        assert guesser.get(poll, HTTP_AUTHORIZATION=f"Api-Key bpos_deadbeef_guess{i}").status_code == 401
    remembered = guesser.get(poll, HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}")
    assert remembered.status_code == 429 and remembered.json()["error"]["code"] == "too_many_attempts"
    forget_local()
    unknown_here = guesser.get(poll, HTTP_AUTHORIZATION=f"Api-Key {shop_a.key}")
    assert unknown_here.status_code == 429 and unknown_here.json()["error"]["code"] == "too_many_attempts"
    assert int(unknown_here["Retry-After"]) == int(remembered["Retry-After"]) == 600


def test_blocked_address_is_refused_on_unknown_urls_and_other_methods(shop_a: Shop) -> None:
    guesser = Client(REMOTE_ADDR="192.0.2.31")
    for i in range(8):
        guesser.get("/api/v1/merchant", HTTP_AUTHORIZATION=f"Api-Key bpos_deadbeef_guess{i}")
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {shop_a.key}"}
    # a URL that resolves to no view: the check runs after the resolver, the answer is still 429
    assert guesser.get("/api/v1/no-such-thing", **auth).status_code == 429
    # the status URL with a method the fast path leaves to DRF
    assert guesser.post(f"/api/v1/invoices/{shop_a.pending.payment_hash}/cancel", **auth).status_code == 429
    assert guesser.head(f"/api/v1/invoices/{shop_a.pending.payment_hash}", **auth).status_code == 429
    # without a key nothing is checked: an unknown URL is a plain 404
    assert guesser.get("/api/v1/no-such-thing").status_code == 404
