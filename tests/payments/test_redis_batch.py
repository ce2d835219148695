"""One round trip for a block's after-commit Redis writes (payments/redis_batch.py): queued inside
``batched()``, sent at its end in one pipeline, each write keeping its own failure handling."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django_redis import get_redis_connection
from redis import Redis

from payments import redis_batch
from payments.metrics import LATENCY_KEY, latency_samples, observe_latency

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def _redis() -> Redis:
    return get_redis_connection(redis_batch.ALIAS)


@pytest.fixture(autouse=True)
def _clean() -> None:
    _redis().delete("batch:a", "batch:b", LATENCY_KEY.format(name="batch_test"))


def _set(key: str, value: str) -> Any:
    return lambda pipe: pipe.set(key, value)


def test_outside_a_batch_nothing_is_queued() -> None:
    assert redis_batch.defer(_set("batch:a", "1"), lambda exc: None) is False
    assert _redis().get("batch:a") is None


def test_queued_writes_are_sent_together_when_the_block_ends() -> None:
    with redis_batch.batched():
        assert redis_batch.defer(_set("batch:a", "1"), lambda exc: None)
        observe_latency("batch_test", 12.5)
        # nothing sent yet
        assert _redis().get("batch:a") is None
        assert latency_samples("batch_test") == []
    assert _redis().get("batch:a") == b"1"
    assert latency_samples("batch_test") == [12.5]


def test_the_block_raising_still_sends_what_was_queued() -> None:
    with pytest.raises(ZeroDivisionError), redis_batch.batched():
        redis_batch.defer(_set("batch:a", "1"), lambda exc: None)
        _ = 1 / 0
    assert _redis().get("batch:a") == b"1"


def test_a_nested_block_leaves_the_sending_to_the_outer_one() -> None:
    with redis_batch.batched():
        with redis_batch.batched():
            redis_batch.defer(_set("batch:a", "1"), lambda exc: None)
        assert _redis().get("batch:a") is None
    assert _redis().get("batch:a") == b"1"


def test_one_refused_command_fails_only_its_own_write() -> None:
    _redis().set("batch:b", "not a list")
    failures: list[tuple[str, Exception]] = []
    with redis_batch.batched():
        redis_batch.defer(lambda pipe: pipe.lpush("batch:b", "x"), lambda exc: failures.append(("b", exc)))
        redis_batch.defer(_set("batch:a", "1"), lambda exc: failures.append(("a", exc)))
    assert [name for name, _ in failures] == ["b"]
    assert _redis().get("batch:a") == b"1"


def test_redis_unreachable_fails_every_write_and_raises_nothing() -> None:
    failures: list[str] = []
    caches = copy.deepcopy(django_settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = UNREACHABLE_REDIS
    with override_settings(CACHES=caches), redis_batch.batched():
        redis_batch.defer(_set("batch:a", "1"), lambda exc: failures.append("a"))
        redis_batch.defer(_set("batch:b", "1"), lambda exc: failures.append("b"))
        observe_latency("batch_test", 1.0)  # swallowed, as without a batch
    assert failures == ["a", "b"]


def test_a_write_for_another_redis_is_not_queued() -> None:
    caches = copy.deepcopy(django_settings.CACHES)
    caches["default"]["LOCATION"] = UNREACHABLE_REDIS
    with override_settings(CACHES=caches), redis_batch.batched():
        assert redis_batch.defer(_set("batch:a", "1"), lambda exc: None, alias="default") is False
        assert redis_batch.defer(_set("batch:a", "1"), lambda exc: None) is True
