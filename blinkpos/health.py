"""Health endpoints for load balancers and operators.

``/health`` answers 200 when PostgreSQL and Redis both answer, 503 otherwise, naming the component.
``/health/db`` adds connection-pool usage, Redis memory and the hot store's hit ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection

from payments import store


def _timed(check: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # a health check reports any failure rather than raising
        return {"status": "down", "error": type(exc).__name__, "latency_ms": _ms(started)}
    return {"status": "up", "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _check_postgres() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    get_redis_connection(store.HOT_ALIAS).ping()


def components() -> dict[str, dict[str, Any]]:
    return {"postgres": _timed(_check_postgres), "redis": _timed(_check_redis)}


@never_cache
@require_GET
def health(_request: HttpRequest) -> JsonResponse:
    checks = components()
    healthy = all(c["status"] == "up" for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "components": checks}, status=200 if healthy else 503
    )


def pool_stats() -> dict[str, Any]:
    pool = getattr(connection, "pool", None)
    if pool is None:
        return {"enabled": False}
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    available = stats.get("pool_available", 0)
    return {
        "enabled": True,
        "min_size": pool.min_size,
        "max_size": pool.max_size,
        "size": size,
        "available": available,
        "in_use": size - available,
        "usage_ratio": round((size - available) / pool.max_size, 4) if pool.max_size else 0.0,
        "requests_waiting": stats.get("requests_waiting", 0),
    }


def redis_memory() -> dict[str, Any]:
    info = get_redis_connection(store.HOT_ALIAS).info("memory")
    used = int(info.get("used_memory", 0))
    maxmemory = int(info.get("maxmemory", 0))
    return {
        "used_bytes": used,
        "used_human": info.get("used_memory_human"),
        "maxmemory_bytes": maxmemory,
        "usage_ratio": round(used / maxmemory, 4) if maxmemory else None,
    }


def hot_store_stats() -> dict[str, Any]:
    counters = store.read_counters()
    lookups = counters["hits"] + counters["misses"] + counters["fallbacks"]
    return {**counters, "hit_ratio": round(counters["hits"] / lookups, 4) if lookups else None}


@never_cache
@require_GET
def health_db(_request: HttpRequest) -> JsonResponse:
    checks = components()
    body: dict[str, Any] = {"components": checks}
    body["pool"] = _timed_value(pool_stats)
    body["redis_memory"] = _timed_value(redis_memory)
    body["hot_store"] = _timed_value(hot_store_stats)
    healthy = all(c["status"] == "up" for c in checks.values())
    body["status"] = "ok" if healthy else "degraded"
    return JsonResponse(body, status=200 if healthy else 503)


def _timed_value(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:  # report, don't fail the whole health answer
        return {"error": type(exc).__name__}
