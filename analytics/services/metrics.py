"""System metrics: collected from counters kept in Redis and cheap PostgreSQL reads (never a row per
event), written to ``system_metrics`` once a minute by ``snapshot_metrics``, evaluated against the
alert thresholds and exposed live at ``/metrics``.

A snapshot is idempotent per minute: it takes a transaction-scoped advisory lock and writes nothing
when that minute's snapshot already exists, so running the job twice or concurrently leaves one set
of rows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from redis.exceptions import RedisError

from analytics.models import SystemMetric
from analytics.services.alerts import Alert, alerts_evaluate
from blinkpos import health
from blinkpos.celery_queues import queue_names
from blinkpos.logging import get_logger
from blinkpos.redis_config import broker_client
from payments import metrics as latency
from payments import store
from payments.models import PaymentSplit, SplitStatus
from payments.provider_limits import LimitStatus, limit_status
from payments.selectors import books_status

log = get_logger(__name__)

LATENCY_OPERATIONS = ("create_invoice", "forward_leg")
PERCENTILES = (50, 95, 99)
OPEN_STATUSES = (SplitStatus.PENDING, SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.FAILED)
SNAPSHOT_MARKER = "snapshot"
ALERT_METRIC = "alert"
STATS_REPAIRED_METRIC = "stats_repaired"
# Fewer lookups than this in a window say nothing about the hit ratio (one miss would be 0 %).
_LOCK_KEY = zlib.crc32(b"blinkpos.snapshot_metrics")


@dataclass(frozen=True, kw_only=True)
class Figure:
    name: str
    value: float | None
    unit: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Collected:
    hotstore: dict[str, int]
    hit_ratio: float | None
    hit_ratio_window: str
    lookups_in_window: int
    latency: dict[str, dict[str, float | int | None]]
    payments_24h: dict[str, int]
    payments_open: dict[str, int]
    queue_depth: int | None
    pool: dict[str, Any]
    redis_memory: dict[str, Any]
    provider_limits: LimitStatus | None = None
    # The latest books reconciliation (payments.selectors.books_status); empty before the first run.
    books: dict[str, Any] = field(default_factory=dict)


# --- collection ---------------------------------------------------------------------------------


def _previous_counters() -> dict[str, int] | None:
    rows = (
        SystemMetric.objects.filter(metric_name=SNAPSHOT_MARKER)
        .order_by("-timestamp")
        .values_list("metadata", flat=True)
    )
    for metadata in rows[:1]:
        counters = (metadata or {}).get("hotstore")
        if isinstance(counters, dict):
            return {k: int(counters.get(k, 0)) for k in store.COUNTER_NAMES}
    return None


def _hit_ratio(counters: dict[str, int]) -> tuple[float | None, str, int]:
    """Hit ratio since the previous snapshot (what an alert should judge), or since the counters
    started when there is no usable previous snapshot (first run, Redis flushed)."""
    previous = _previous_counters()
    window = "cumulative"
    hits, lookups = counters["hits"], sum(counters.values())
    if previous is not None and all(counters[k] >= previous[k] for k in store.COUNTER_NAMES):
        window = "interval"
        hits = counters["hits"] - previous["hits"]
        lookups = sum(counters.values()) - sum(previous.values())
    return (round(hits / lookups, 4) if lookups else None), window, lookups


def queue_depth() -> int | None:
    """Messages waiting in the broker's Celery queues (LLEN of the kombu Redis lists)."""
    try:
        client = broker_client(timeout=1)
        try:
            return int(sum(client.llen(name) for name in queue_names()))
        finally:
            client.close()
    except (RedisError, ValueError) as exc:
        log.warning("metrics.queue_depth_unavailable", error=type(exc).__name__)
        return None


def _safe(fn: Any) -> dict[str, Any]:
    try:
        return dict(fn())
    except Exception as exc:  # a metric source that fails is reported, the others still count
        return {"error": type(exc).__name__}


def _limit_status() -> LimitStatus | None:
    try:
        return limit_status()
    except Exception as exc:  # like _safe: one failing source must not stop the snapshot
        log.warning("metrics.provider_limits_unavailable", error=type(exc).__name__)
        return None


def metrics_collect() -> Collected:
    counters = store.read_counters()
    ratio, window, lookups = _hit_ratio(counters)
    lat: dict[str, dict[str, float | int | None]] = {}
    for op in LATENCY_OPERATIONS:
        samples = latency.latency_samples(op)
        lat[op] = {f"p{p}": latency.percentile(samples, p) for p in PERCENTILES}
        lat[op]["samples"] = len(samples)
    since = timezone.now() - timedelta(hours=24)
    by_status = dict(
        PaymentSplit.objects.filter(created_at__gte=since).values_list("status").annotate(n=Count("id")).order_by()
    )
    open_ = dict(
        PaymentSplit.objects.filter(status__in=OPEN_STATUSES).values_list("status").annotate(n=Count("id")).order_by()
    )
    return Collected(
        hotstore=counters,
        hit_ratio=ratio,
        hit_ratio_window=window,
        lookups_in_window=lookups,
        latency=lat,
        payments_24h={s: int(by_status.get(s, 0)) for s in SplitStatus.values},
        payments_open={s: int(open_.get(s, 0)) for s in OPEN_STATUSES},
        queue_depth=queue_depth(),
        pool=_safe(health.pool_stats),
        redis_memory=_safe(health.redis_memory),
        provider_limits=_limit_status(),
        books=_safe(books_status),
    )


# --- alerts -------------------------------------------------------------------------------------


# --- snapshot -----------------------------------------------------------------------------------


def figures_from(collected: Collected) -> list[Figure]:
    figures = [
        Figure(name=f"hotstore_{name}", value=collected.hotstore[name], unit="count") for name in store.COUNTER_NAMES
    ]
    figures.append(
        Figure(
            name="hotstore_hit_ratio",
            value=collected.hit_ratio,
            unit="ratio",
            metadata={"window": collected.hit_ratio_window, "lookups": collected.lookups_in_window},
        )
    )
    for op, values in collected.latency.items():
        for p in PERCENTILES:
            figures.append(
                Figure(
                    name=f"latency_{op}_p{p}",
                    value=values[f"p{p}"],
                    unit="ms",
                    metadata={"samples": values["samples"]},
                )
            )
    for status, n in collected.payments_24h.items():
        figures.append(Figure(name=f"payments_24h_{status}", value=n, unit="count", metadata={"window": "24h"}))
    for status, n in collected.payments_open.items():
        figures.append(Figure(name=f"payments_open_{status}", value=n, unit="count"))
    figures.append(Figure(name="celery_queue_depth", value=collected.queue_depth, unit="count"))
    figures.append(
        Figure(name="pg_pool_in_use", value=collected.pool.get("in_use"), unit="count", metadata=collected.pool)
    )
    figures.append(Figure(name="pg_pool_usage_ratio", value=collected.pool.get("usage_ratio"), unit="ratio"))
    figures.append(Figure(name="redis_memory_used_bytes", value=collected.redis_memory.get("used_bytes"), unit="bytes"))
    figures.append(
        Figure(name="redis_memory_usage_ratio", value=collected.redis_memory.get("usage_ratio"), unit="ratio")
    )
    if collected.provider_limits is not None:
        limits = collected.provider_limits
        figures.append(
            Figure(
                name="provider_invoice_block_seconds",
                value=limits.invoice_block_seconds or 0,
                unit="s",
                metadata={"accounts": limits.invoice_blocks},
            )
        )
        figures.append(Figure(name="legs_waiting_for_limit", value=limits.legs_waiting_for_limit, unit="count"))
        figures.append(Figure(name="legs_given_up_on_limit", value=limits.legs_given_up_on_limit, unit="count"))
    books = collected.books
    figures.append(Figure(name="books_open_differences", value=books.get("differences"), unit="count"))
    figures.append(Figure(name="books_balance_gap_sats", value=books.get("balance_difference_sats"), unit="sats"))
    return [f for f in figures if f.value is not None]


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(float(value), 4)))


def minute_bucket(now: datetime) -> str:
    return now.replace(second=0, microsecond=0).isoformat()


@dataclass(frozen=True, kw_only=True)
class SnapshotResult:
    bucket: str
    written: int
    alerts: tuple[Alert, ...]
    skipped: bool


def metrics_snapshot(*, now: datetime | None = None) -> SnapshotResult:
    """Collect, evaluate alerts and write this minute's rows (once per minute, whoever runs it)."""
    now = now or timezone.now()
    bucket = minute_bucket(now)
    collected = metrics_collect()
    alerts = alerts_evaluate(collected)
    rows = [
        SystemMetric(
            metric_name=f.name,
            metric_value=_decimal(f.value),
            metric_unit=f.unit,
            metadata={**f.metadata, "bucket": bucket},
        )
        for f in figures_from(collected)
    ]
    rows += [
        SystemMetric(
            metric_name=ALERT_METRIC,
            metric_value=_decimal(a.value),
            metric_unit="",
            metadata={"alert": a.name, "message": a.message, "threshold": a.threshold, "bucket": bucket},
        )
        for a in alerts
    ]
    rows.append(
        SystemMetric(
            metric_name=SNAPSHOT_MARKER,
            metric_value=Decimal(len(alerts)),
            metric_unit="alerts",
            metadata={"bucket": bucket, "hotstore": collected.hotstore},
        )
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        if SystemMetric.objects.filter(metric_name=SNAPSHOT_MARKER, metadata__bucket=bucket).exists():
            log.info("metrics.snapshot_skipped", bucket=bucket)
            return SnapshotResult(bucket=bucket, written=0, alerts=tuple(alerts), skipped=True)
        SystemMetric.objects.bulk_create(rows)
    for alert in alerts:
        log.warning("metrics.alert", alert=alert.name, value=alert.value, threshold=alert.threshold)
    log.info("metrics.snapshot_written", bucket=bucket, rows=len(rows), alerts=len(alerts))
    return SnapshotResult(bucket=bucket, written=len(rows), alerts=tuple(alerts), skipped=False)


def metric_record(
    *, name: str, value: float | int | None, unit: str = "", metadata: dict[str, Any] | None = None
) -> SystemMetric:
    return SystemMetric.objects.create(
        metric_name=name, metric_value=_decimal(value), metric_unit=unit, metadata=dict(metadata or {})
    )


def stats_refresh_record(*, repair: bool = True) -> Any:
    """The scheduled ``refresh_stats``: verify/repair tip stats (payments) and record what was repaired."""
    from payments.services.tip_stats import tip_stats_refresh

    result = tip_stats_refresh(repair=repair)
    if result.repairs and repair:
        metric_record(
            name=STATS_REPAIRED_METRIC,
            value=result.repaired,
            unit="count",
            metadata={"recipients": result.recipients, "repairs": [r.as_dict() for r in result.repairs[:200]]},
        )
    return result
