"""The Redis browser: a bounded SCAN (never KEYS) that says when it stopped, one key's masked value and
TTL, and evict / re-warm of a hot key through the hot store: POST with CSRF only, admin-logged with the
operator's name, leaving the hot store consistent with PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django_redis import get_redis_connection

from console import redis_browser
from console.masking import MASK
from payments import store
from payments.models import SplitStatus
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _redis() -> Any:
    return get_redis_connection(store.HOT_ALIAS)


@pytest.fixture
def no_keys_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """KEYS walks the whole keyspace in one blocking call: the browser must never send it."""
    from redis import Redis

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("KEYS was called")

    monkeypatch.setattr(Redis, "keys", refuse)


def test_the_survey_counts_families_and_ttls(no_keys_command: None) -> None:
    r = _redis()
    for i in range(3):
        r.set(f"tip:{i:064x}", "{}", ex=600)
    r.set("lock:payment:" + "a" * 64, "worker-1", ex=30)
    r.set("ratelimit:terminal:1:2000", 5, ex=3000)
    r.set("terminal:authgen", "g1")
    r.set("sale:configgen", "g2")
    r.set("something:else", 1)

    survey = redis_browser.survey()

    families = {f.prefix: f for f in survey.families}
    assert not survey.truncated
    assert families["tip:"].count == 3 and families["tip:"].ttls == {"< 15 min": 3}
    assert families["lock:payment:"].ttls == {"< 1 min": 1}
    assert families["ratelimit:"].ttls == {"< 1 h": 1}
    assert families["terminal:"].ttls == {"no expiry": 1}
    assert families["sale:"].count == 1
    assert families["(other)"].count == 1


def test_the_scan_stops_at_its_bound_and_says_so(no_keys_command: None, console_operator: Client) -> None:
    r = _redis()
    pipe = r.pipeline()
    for i in range(120):
        pipe.set(f"ratelimit:x:{i}", 1, ex=60)
    pipe.execute()

    survey = redis_browser.survey(limit=50)

    assert survey.truncated
    assert survey.scanned == 50
    assert sum(f.count for f in survey.families) == 50
    assert survey.dbsize >= 120


def test_the_page_says_when_the_bound_was_hit(
    no_keys_command: None, console_operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_browser, "SCAN_LIMIT", 10)
    r = _redis()
    for i in range(30):
        r.set(f"price:X{i}", 1)
    body = console_operator.get(reverse("admin:console_redis")).content.decode()
    assert 'id="scan-bound"' in body and "bound of 10 keys" in body


def test_a_key_lookup_shows_the_masked_value_and_ttl(console_operator: Client) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    key = store.tip_key(split.payment_hash)
    # a value as an older writer might have left it, with secrets under telling names
    _redis().set(
        key, json.dumps({"paymentHash": split.payment_hash, "userApiKey": "blink_leakedkey0123456789"}), ex=900
    )

    response = console_operator.get(reverse("admin:console_redis"), {"key": key})

    body = response.content.decode()
    assert response.status_code == 200
    assert "blink_leakedkey0123456789" not in body
    assert MASK in body and split.payment_hash in body
    assert 'id="key-ttl"' in body
    assert reverse("admin:payments_paymentsplit_change", args=[split.pk]) in body  # to its split


def test_evict_and_rewarm_round_trip_leaves_the_hot_store_consistent(console_operator: Client) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    store.put(split)
    key = store.tip_key(split.payment_hash)
    before = json.loads(_redis().get(key))

    # when: an operator evicts the key
    response = console_operator.post(reverse("admin:console_redis_evict"), {"key": key})
    # then: it is gone, and the admin log names the operator and the key
    assert response.status_code == 302
    assert _redis().get(key) is None
    entry = LogEntry.objects.latest("action_time")
    assert entry.user.username == "console-operator" and entry.change_message == f"evict: {key}"

    # when: they re-warm it from PostgreSQL
    console_operator.post(reverse("admin:console_redis_rewarm"), {"key": key})
    # then: the key holds exactly what the app would write, with a TTL, and it is logged
    assert json.loads(_redis().get(key)) == before == json.loads(json.dumps(store.snapshot(split)))
    assert 0 < _redis().ttl(key) <= store.ttl_for(split)
    assert LogEntry.objects.latest("action_time").change_message == f"re-warm: {key} (written)"
    assert store.get(split.payment_hash) == before  # what a terminal's poll now reads


def test_rewarm_of_a_finished_split_evicts_a_stale_copy(console_operator: Client) -> None:
    split = PaymentSplitFactory(status=SplitStatus.COMPLETED)
    key = store.tip_key(split.payment_hash)
    _redis().set(key, json.dumps({"status": "processing"}), ex=900)  # stale: PostgreSQL says completed

    console_operator.post(reverse("admin:console_redis_rewarm"), {"key": key})

    assert _redis().get(key) is None
    assert "evicted (finished split)" in LogEntry.objects.latest("action_time").change_message


@pytest.mark.parametrize("key", ["ratelimit:terminal:1:2", "tip:not-a-hash", "tip:" + "A" * 64, ""])
def test_the_actions_only_touch_hot_keys_and_name_the_field(console_operator: Client, key: str) -> None:
    _redis().set("ratelimit:terminal:1:2", 1)
    response = console_operator.post(reverse("admin:console_redis_evict"), {"key": key})
    assert response.status_code == 400
    assert response.content.decode().startswith("key:")
    assert _redis().get("ratelimit:terminal:1:2") == b"1"
    assert not LogEntry.objects.exists()


def test_the_actions_need_post_and_csrf() -> None:
    from tests.factories import UserFactory

    user = UserFactory(username="root-operator", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    store.put(split)
    key = store.tip_key(split.payment_hash)

    assert client.get(reverse("admin:console_redis_evict"), {"key": key}).status_code == 405
    assert client.post(reverse("admin:console_redis_evict"), {"key": key}).status_code == 403  # no token
    assert _redis().get(key) is not None
