"""The hot store: ``tip:{hash}`` in Redis with a TTL, PostgreSQL fallback, counters, and no secrets."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection
from pytest_django.fixtures import Settings
from redis import Redis

from payments import store
from payments.crypto import encrypt_secret
from payments.models import LegStatus, PaymentSplit, SplitStatus
from payments.services.transitions import lock_split, transition_split
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _redis() -> Redis:
    return get_redis_connection(store.HOT_ALIAS)


def _raw_counters() -> dict[str, int]:
    return {name: int(_redis().get(store.COUNTER_KEY.format(name=name)) or 0) for name in store.COUNTER_NAMES}


@contextmanager
def redis_unreachable() -> Iterator[None]:
    """Point the caches at a closed port. Overriding CACHES resets Django's cache handler, so
    ``get_redis_connection`` builds a client for the new location."""
    caches = copy.deepcopy(django_settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = UNREACHABLE_REDIS
    with override_settings(CACHES=caches):
        yield


def test_redis_unreachable_really_points_the_hot_client_elsewhere() -> None:
    with redis_unreachable():
        kwargs = get_redis_connection(store.HOT_ALIAS).connection_pool.connection_kwargs
        assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1", 1)
    kwargs = _redis().connection_pool.connection_kwargs
    assert kwargs["port"] != 1


def test_put_then_get_returns_the_snapshot_and_counts_a_hit() -> None:
    split = PaymentSplitFactory(base_amount=2_000, tip_amount=300, memo="table 4")

    assert store.put(split) is True
    document = store.get(split.payment_hash)

    assert document == json.loads(json.dumps(store.snapshot(split)))
    assert document is not None
    assert (document["totalAmount"], document["baseAmount"], document["tipAmount"]) == (2_300, 2_000, 300)
    assert document["status"] == "pending"
    assert json.loads(_redis().get(store.tip_key(split.payment_hash))) == document
    assert _raw_counters() == {"hits": 1, "misses": 0, "fallbacks": 0}
    assert store.read_counters() == {"hits": 1, "misses": 0, "fallbacks": 0}


def test_the_key_is_named_as_the_design_says() -> None:
    split = PaymentSplitFactory()
    store.put(split)
    assert _redis().exists(f"tip:{split.payment_hash}") == 1


@pytest.mark.parametrize(
    ("tip_ttl", "tip_max", "expires_in", "expected"),
    [
        (120, 600, 60, 120),  # configured TTL when the invoice expires sooner
        (120, 600, 300, 300),  # long enough to cover the invoice's expiry
        (120, 600, 5_000, 600),  # never beyond tip_max
        (900, 86_400, 15 * 60, 900),  # seed defaults
    ],
)
def test_ttl_is_set_as_configured(
    settings: Settings, tip_ttl: int, tip_max: int, expires_in: int, expected: int
) -> None:
    settings.CACHE_TTLS = {**settings.CACHE_TTLS, "tip": tip_ttl, "tip_max": tip_max}
    split = PaymentSplitFactory(expires_at=timezone.now() + timedelta(seconds=expires_in))

    store.put(split)

    ttl = _redis().ttl(store.tip_key(split.payment_hash))
    assert expected - 5 <= ttl <= expected


def test_get_rewarm_uses_the_configured_ttl(settings: Settings) -> None:
    settings.CACHE_TTLS = {**settings.CACHE_TTLS, "tip": 77, "tip_max": 600}
    split = PaymentSplitFactory(expires_at=timezone.now() + timedelta(seconds=10))
    store.get(split.payment_hash)
    assert 72 <= _redis().ttl(store.tip_key(split.payment_hash)) <= 77


def test_deleted_key_is_served_from_postgres_and_rewarmed() -> None:
    split = PaymentSplitFactory()
    store.put(split)
    _redis().delete(store.tip_key(split.payment_hash))

    document = store.get(split.payment_hash)

    assert document is not None
    assert document["paymentHash"] == split.payment_hash
    assert document["totalAmount"] == split.total_amount
    assert _redis().exists(store.tip_key(split.payment_hash)) == 1
    assert _raw_counters() == {"hits": 0, "misses": 1, "fallbacks": 0}
    # the next read is a hit
    assert store.get(split.payment_hash) == document
    assert _raw_counters() == {"hits": 1, "misses": 1, "fallbacks": 0}


def test_postgres_fallback_reflects_the_current_row() -> None:
    split = PaymentSplitFactory()
    store.put(split)
    split.status = SplitStatus.PAID
    split.save(update_fields=["status"])  # a write whose on_commit sync has not run yet
    _redis().delete(store.tip_key(split.payment_hash))
    document = store.get(split.payment_hash)
    assert document is not None
    assert document["status"] == "paid"


@pytest.mark.parametrize(
    "status", [SplitStatus.COMPLETED, SplitStatus.FAILED, SplitStatus.EXPIRED, SplitStatus.CANCELLED]
)
def test_finished_split_is_served_but_not_rewarmed(status: str) -> None:
    split = PaymentSplitFactory(status=status)

    document = store.get(split.payment_hash)

    assert document is not None
    assert document["status"] == status
    assert _redis().exists(store.tip_key(split.payment_hash)) == 0
    assert _raw_counters()["misses"] == 1


def test_unknown_hash_is_none_and_writes_nothing() -> None:
    assert store.get("ab" * 32) is None
    assert _redis().keys("tip:*") == []
    assert _raw_counters()["misses"] == 1


@pytest.mark.parametrize(
    ("status", "kept"),
    [(SplitStatus.PENDING, True), (SplitStatus.PAID, True), (SplitStatus.PROCESSING, True)]
    + [(s, False) for s in (SplitStatus.COMPLETED, SplitStatus.FAILED, SplitStatus.EXPIRED, SplitStatus.CANCELLED)],
)
def test_sync_keeps_active_and_evicts_finished(status: str, kept: bool) -> None:
    split = PaymentSplitFactory()
    store.put(split)
    split.status = status
    split.save(update_fields=["status"])  # sync runs after the commit of the new status
    store.sync(split)
    raw = _redis().get(store.tip_key(split.payment_hash))
    if kept:
        assert json.loads(raw)["status"] == status
    else:
        assert raw is None


def _stale_copy(split: Any, status: str) -> Any:
    stale = copy.copy(split)
    stale.status = status
    return stale


def test_a_late_write_of_a_stale_active_snapshot_does_not_resurrect_a_finished_split() -> None:
    """T1 commits ``processing``; T2 commits ``completed`` and evicts; T1's after-commit sync runs late.
    The stale ``processing`` snapshot must not stay in Redis for the whole TTL."""
    split = PaymentSplitFactory(status=SplitStatus.COMPLETED)
    store.sync(_stale_copy(split, SplitStatus.PROCESSING))
    assert _redis().exists(store.tip_key(split.payment_hash)) == 0


def test_a_late_write_of_an_older_active_snapshot_is_replaced_by_the_current_one() -> None:
    split = PaymentSplitFactory(status=SplitStatus.PAID)
    assert store.put(_stale_copy(split, SplitStatus.PENDING)) is True
    assert json.loads(_redis().get(store.tip_key(split.payment_hash)))["status"] == "paid"


def test_put_without_confirmation_writes_without_reading_postgres_back(django_assert_num_queries: Any) -> None:
    """The create path's put: the snapshot is written as given, with no re-read (the write is the
    split's first; nothing can have moved it). The default put reads the status back once."""
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    with django_assert_num_queries(0):
        assert store.put(split, confirm=False) is True
    assert json.loads(_redis().get(store.tip_key(split.payment_hash)))["status"] == "pending"
    with django_assert_num_queries(1):
        assert store.put(split) is True


def test_a_rewarm_racing_a_completion_does_not_leave_a_stale_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader misses, reads the split as ``processing`` from PostgreSQL, and before its SET the
    completion commits and evicts. Simulated by committing the completion inside ``ttl_for``, which
    ``put`` calls between the read and the SET."""
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING)
    real_ttl_for = store.ttl_for

    def completion_commits_meanwhile(read: Any) -> int:
        PaymentSplit.objects.filter(pk=read.pk).update(status=SplitStatus.COMPLETED)
        store.evict(read.payment_hash)
        return real_ttl_for(read)

    monkeypatch.setattr(store, "ttl_for", completion_commits_meanwhile)

    document = store.get(split.payment_hash)

    assert document is not None
    assert document["status"] == "processing"  # what the reader saw; the next read sees completed
    assert _redis().exists(store.tip_key(split.payment_hash)) == 0


def test_redis_unreachable_get_answers_from_postgres_and_counts_a_fallback() -> None:
    split = PaymentSplitFactory(base_amount=5_000, tip_amount=500)
    store.put(split)

    with redis_unreachable():
        document = store.get(split.payment_hash)
        missing = store.get("cd" * 32)
        assert store.put(split) is False
        assert store.evict(split.payment_hash) is False
        carried = store.unflushed_counts()
        totals_while_down = store.read_counters()

    assert document == json.loads(json.dumps(store.snapshot(split)))
    assert missing is None
    assert carried == {"fallbacks": 2}
    assert totals_while_down == {"hits": 0, "misses": 0, "fallbacks": 2}
    # nothing reached the real Redis while it was "down"
    assert _raw_counters() == {"hits": 0, "misses": 0, "fallbacks": 0}

    # when Redis is back, the next counted read flushes the carried counts
    assert store.get(split.payment_hash) == document
    assert store.unflushed_counts() == {}
    assert _raw_counters() == {"hits": 1, "misses": 0, "fallbacks": 2}


def test_no_secret_is_ever_written_to_redis(django_capture_on_commit_callbacks: Any) -> None:
    api_key = "blink_" + secrets.token_urlsafe(24)
    merchant = MerchantFactory(blink_api_key_encrypted=encrypt_secret(api_key))
    bolt11 = "lnbc23u1p" + secrets.token_hex(60)
    preimage = secrets.token_hex(32)
    split = PaymentSplitFactory(
        merchant=merchant,
        payment_request=bolt11,
        user_api_key_encrypted=encrypt_secret("blink_" + secrets.token_urlsafe(24)),
        metadata={"note": "customer at table 2"},
    )
    PaymentLegFactory(
        split=split,
        payment_request="lnbc1000n1p" + secrets.token_hex(60),
        preimage=preimage,
        status=LegStatus.SUCCEEDED,
    )

    # every path that writes the key: put, re-warm on miss, sync after a transition
    store.put(split)
    store.get(split.payment_hash)
    _redis().delete(store.tip_key(split.payment_hash))
    store.get(split.payment_hash)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.PAID, event_type="paid", paid_at=timezone.now())
    assert _redis().exists(store.tip_key(split.payment_hash)) == 1

    stored = _all_redis_values()
    assert stored, "expected the hot store to have written something"
    for forbidden in ("lnbc", "blink_", "gAAAA", preimage, bolt11[-20:], api_key):
        assert all(forbidden not in value for value in stored), forbidden


def _all_redis_values() -> list[str]:
    """Every key and value in this test's Redis database, whatever its type."""
    client = _redis()
    values: list[str] = []
    for key in client.scan_iter("*"):
        kind = client.type(key).decode()
        if kind == "string":
            raw: Any = [client.get(key)]
        elif kind == "list":
            raw = client.lrange(key, 0, -1)
        elif kind == "hash":
            raw = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "set":
            raw = list(client.smembers(key))
        elif kind == "zset":
            raw = client.zrange(key, 0, -1)
        else:
            raw = []
        values.append(key.decode())
        values.extend(v.decode() if isinstance(v, bytes) else str(v) for v in raw)
    return values
