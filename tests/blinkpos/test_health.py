"""/health (load balancers) and /health/db (operators) against the real PostgreSQL and Redis."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django_redis import get_redis_connection

from payments import store
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down() -> Iterator[None]:
    caches = copy.deepcopy(django_settings.CACHES)
    for alias in caches.values():
        alias["LOCATION"] = "redis://127.0.0.1:1/0"
    with override_settings(CACHES=caches):
        yield


def test_health_is_200_with_both_components_up(client: Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for name in ("postgres", "redis"):
        component = body["components"][name]
        assert component["status"] == "up"
        assert isinstance(component["latency_ms"], int | float)
        assert component["latency_ms"] >= 0
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_health_is_503_naming_redis_when_redis_is_unreachable(client: Client, redis_down: None) -> None:
    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["redis"]["error"]  # the exception class, e.g. ConnectionError
    assert "latency_ms" in body["components"]["redis"]
    assert body["components"]["postgres"]["status"] == "up"


def test_health_refuses_other_methods(client: Client) -> None:
    assert client.post("/health").status_code == 405


def test_health_db_reports_pool_memory_and_hit_ratio(client: Client) -> None:
    redis = get_redis_connection(store.HOT_ALIAS)
    redis.set(store.COUNTER_KEY.format(name="hits"), 6)
    redis.set(store.COUNTER_KEY.format(name="misses"), 1)
    redis.set(store.COUNTER_KEY.format(name="fallbacks"), 1)

    response = client.get("/health/db")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {"pool", "redis_memory", "hot_store", "components"} <= body.keys()
    assert body["hot_store"] == {"hits": 6, "misses": 1, "fallbacks": 1, "hit_ratio": 0.75}
    assert body["redis_memory"]["used_bytes"] > 0
    pool = body["pool"]
    if django_settings.DATABASES["default"]["OPTIONS"].get("pool"):
        assert pool["enabled"] is True
        assert pool["max_size"] >= pool["min_size"] >= 0
        assert 0 <= pool["in_use"] <= pool["size"] <= pool["max_size"]
    else:
        assert pool == {"enabled": False}


def test_health_db_hit_ratio_is_null_before_any_lookup(client: Client) -> None:
    body = client.get("/health/db").json()
    assert body["hot_store"] == {"hits": 0, "misses": 0, "fallbacks": 0, "hit_ratio": None}


def test_health_db_counts_real_lookups(client: Client) -> None:
    split = PaymentSplitFactory()
    store.get(split.payment_hash)  # miss, re-warms
    store.get(split.payment_hash)  # hit
    store.get(split.payment_hash)  # hit
    body = client.get("/health/db").json()
    assert body["hot_store"]["hits"] == 2
    assert body["hot_store"]["misses"] == 1
    assert body["hot_store"]["hit_ratio"] == round(2 / 3, 4)


def test_health_db_is_503_with_redis_down_and_still_reports_fallbacks(client: Client, redis_down: None) -> None:
    split = PaymentSplitFactory()
    assert store.get(split.payment_hash) is not None  # answered from PostgreSQL

    response = client.get("/health/db")

    assert response.status_code == 503
    body = response.json()
    assert body["components"]["redis"]["status"] == "down"
    assert "error" in body["redis_memory"]
    # the fallback is counted in-process while Redis is away
    assert body["hot_store"]["fallbacks"] == 1
    assert body["hot_store"]["hit_ratio"] == 0.0
