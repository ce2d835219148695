"""Observability endpoints.

- ``GET /metrics``: Prometheus text, the same figures ``snapshot_metrics`` writes, computed live.
- ``GET /api/storage/health``: the seed's storage health (Redis + PostgreSQL status, hot-store
  statistics, the last 24 hours by status) with active alerts.

Both are for operators: they answer a request carrying ``Authorization: Bearer <METRICS_TOKEN>`` or
coming from an address in ``METRICS_ALLOWED_IPS`` (``REMOTE_ADDR``; put the proxy's view of the client
there when behind one). ``/api/storage/health`` also answers a logged-in staff user. With neither
setting configured, ``/metrics`` is closed.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from analytics.selectors import active_alerts
from analytics.services.metrics import PERCENTILES, Collected, alerts_evaluate, metrics_collect
from blinkpos import health
from blinkpos.logging import get_logger
from payments import store

log = get_logger(__name__)


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


def _ip_ok(request: HttpRequest) -> bool:
    allowed = settings.METRICS_ALLOWED_IPS
    if not allowed:
        return False
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in allowed:
        try:
            if client in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            log.warning("metrics.bad_allowed_ip_entry", entry=entry)
    return False


def _denied(request: HttpRequest) -> HttpResponse:
    log.info("metrics.access_denied", path=request.path, remote_addr=request.META.get("REMOTE_ADDR", ""))
    response = JsonResponse(
        {
            "error": {
                "code": "not_authenticated",
                "message": "A metrics bearer token or an allowed address is required.",
            }
        },
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


class _LiveCollector:
    """A prometheus_client collector over one ``Collected`` (built per request)."""

    def __init__(self, collected: Collected) -> None:
        self.c = collected

    def collect(self) -> Iterator[Metric]:
        c = self.c
        lookups = CounterMetricFamily(
            "blinkpos_hotstore_lookups", "Hot-store reads by result (Redis counters)", labels=["result"]
        )
        for name, label in (("hits", "hit"), ("misses", "miss"), ("fallbacks", "fallback")):
            lookups.add_metric([label], c.hotstore[name])
        yield lookups
        if c.hit_ratio is not None:
            yield GaugeMetricFamily(
                "blinkpos_hotstore_hit_ratio", f"Hot-store hit ratio ({c.hit_ratio_window})", value=c.hit_ratio
            )
        lat = GaugeMetricFamily(
            "blinkpos_latency_milliseconds",
            "Latency percentiles over the newest samples",
            labels=["operation", "quantile"],
        )
        for op, values in c.latency.items():
            for p in PERCENTILES:
                value = values[f"p{p}"]
                if value is not None:
                    lat.add_metric([op, f"0.{p}"], float(value))
        yield lat
        day = GaugeMetricFamily("blinkpos_payments_24h", "Splits created in the last 24 h by status", labels=["status"])
        for status, n in c.payments_24h.items():
            day.add_metric([status], n)
        yield day
        open_ = GaugeMetricFamily("blinkpos_payments_open", "Splits currently in an open status", labels=["status"])
        for status, n in c.payments_open.items():
            open_.add_metric([status], n)
        yield open_
        if c.queue_depth is not None:
            yield GaugeMetricFamily(
                "blinkpos_celery_queue_depth", "Messages waiting in Celery queues", value=c.queue_depth
            )
        for key, name, doc in (
            ("in_use", "blinkpos_pg_pool_in_use", "PostgreSQL pool connections in use (this process)"),
            ("max_size", "blinkpos_pg_pool_max", "PostgreSQL pool maximum size"),
            ("usage_ratio", "blinkpos_pg_pool_usage_ratio", "PostgreSQL pool usage ratio (this process)"),
        ):
            if isinstance(c.pool.get(key), int | float):
                yield GaugeMetricFamily(name, doc, value=c.pool[key])
        for key, name, doc in (
            ("used_bytes", "blinkpos_redis_memory_used_bytes", "Redis used memory"),
            ("maxmemory_bytes", "blinkpos_redis_memory_max_bytes", "Redis maxmemory (0: unlimited)"),
            ("usage_ratio", "blinkpos_redis_memory_usage_ratio", "Redis used / maxmemory"),
        ):
            if isinstance(c.redis_memory.get(key), int | float):
                yield GaugeMetricFamily(name, doc, value=c.redis_memory[key])
        for key, name, doc in (
            ("differences", "blinkpos_books_differences", "Open differences between our books and Blink's"),
            ("balance_difference_sats", "blinkpos_books_balance_difference_sats", "Blink balance - books (sats)"),
        ):
            if isinstance(c.books.get(key), int):
                yield GaugeMetricFamily(name, f"{doc} (latest complete books run)", value=c.books[key])
        alerts = GaugeMetricFamily("blinkpos_alert_active", "1 for each alert threshold crossed now", labels=["alert"])
        for alert in alerts_evaluate(c):
            alerts.add_metric([alert.name], 1)
        yield alerts


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not (_bearer_ok(request) or _ip_ok(request)):
        return _denied(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LiveCollector(metrics_collect()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _last_24h(collected: Collected) -> dict[str, Any]:
    p = collected.payments_24h
    return {
        "pending_count": p.get("pending", 0),
        "processing_count": p.get("paid", 0) + p.get("processing", 0),
        "completed_count": p.get("completed", 0),
        "failed_count": p.get("failed", 0),
        "expired_count": p.get("expired", 0),
    }


@never_cache
@require_GET
def storage_health(request: HttpRequest) -> HttpResponse:
    user = getattr(request, "user", None)
    if not (_bearer_ok(request) or _ip_ok(request) or (user is not None and user.is_active and user.is_staff)):
        return _denied(request)
    checks = health.components()
    healthy = all(c["status"] == "up" for c in checks.values())
    collected = metrics_collect()
    body = {
        "status": "healthy" if healthy else "degraded",
        "timestamp": timezone.now().isoformat(),
        "storage": "hybrid (Redis + PostgreSQL)",
        "checks": checks,
        "hot_store": {
            **collected.hotstore,
            "hit_ratio": collected.hit_ratio,
            "hit_ratio_window": collected.hit_ratio_window,
            "unflushed": store.unflushed_counts(),
            "active_splits": sum(collected.payments_open.get(s, 0) for s in ("pending", "paid", "processing")),
            "ttl_seconds": {k: settings.CACHE_TTLS[k] for k in ("tip", "tip_max")},
        },
        "last24Hours": _last_24h(collected),
        "pool": collected.pool,
        "redis_memory": collected.redis_memory,
        "queue_depth": collected.queue_depth,
        "alerts": [{"name": a.name, "message": a.message} for a in active_alerts()],
    }
    return JsonResponse(body, status=200 if healthy else 503)
