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

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from redis.exceptions import RedisError

from analytics.models import SystemMetric
from blinkpos import health
from blinkpos.logging import get_logger
from payments import metrics as latency
from payments import store
from payments.models import PaymentSplit, SplitStatus
from payments.provider_limits import LimitStatus, limit_status
from payments.selectors import books_status

log = get_logger(__name__)

LATENCY_OPERATIONS = ("create_invoice", "forward_leg")
PERCENTILES = (50, 95, 99)
OPEN_STATUSES = (SplitStatus.PENDING, SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.FAILED)
CELERY_QUEUES = ("celery",)
SNAPSHOT_MARKER = "snapshot"
ALERT_METRIC = "alert"
STATS_REPAIRED_METRIC = "stats_repaired"
# Fewer lookups than this in a window say nothing about the hit ratio (one miss would be 0 %).
MIN_LOOKUPS_FOR_RATIO_ALERT = 20
_LOCK_KEY = zlib.crc32(b"blinkpos.snapshot_metrics")


@dataclass(frozen=True, kw_only=True)
class Figure:
    name: str
    value: float | None
    unit: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Alert:
    name: str
    message: str
    value: float
    threshold: float


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
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1)
        try:
            return int(sum(client.llen(name) for name in CELERY_QUEUES))
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


def alerts_evaluate(collected: Collected) -> list[Alert]:
    """The seed documents' thresholds (settings.ALERT_THRESHOLDS)."""
    limits = settings.ALERT_THRESHOLDS
    alerts: list[Alert] = []
    ratio_min = float(limits["hotstore_hit_ratio_min"])
    if (
        collected.hit_ratio is not None
        and collected.lookups_in_window >= MIN_LOOKUPS_FOR_RATIO_ALERT
        and collected.hit_ratio < ratio_min
    ):
        alerts.append(
            Alert(
                name="hotstore_hit_ratio_low",
                message=f"Hot-store hit ratio {collected.hit_ratio:.0%} is below {ratio_min:.0%}",
                value=collected.hit_ratio,
                threshold=ratio_min,
            )
        )
    p95_max = float(limits["latency_p95_ms_max"])
    for op, values in collected.latency.items():
        p95 = values.get("p95")
        if p95 is not None and float(p95) > p95_max:
            alerts.append(
                Alert(
                    name=f"latency_{op}_p95_high",
                    message=f"{op} p95 latency {float(p95):.0f} ms is above {p95_max:.0f} ms",
                    value=float(p95),
                    threshold=p95_max,
                )
            )
    pool_max = float(limits["pg_pool_usage_max"])
    pool_ratio = collected.pool.get("usage_ratio")
    if isinstance(pool_ratio, int | float) and pool_ratio > pool_max:
        alerts.append(
            Alert(
                name="pg_pool_usage_high",
                message=f"PostgreSQL pool usage {pool_ratio:.0%} is above {pool_max:.0%}",
                value=float(pool_ratio),
                threshold=pool_max,
            )
        )
    mem_max = float(limits["redis_memory_usage_max"])
    mem_ratio = collected.redis_memory.get("usage_ratio")
    if isinstance(mem_ratio, int | float) and mem_ratio > mem_max:
        alerts.append(
            Alert(
                name="redis_memory_high",
                message=f"Redis memory usage {mem_ratio:.0%} of maxmemory is above {mem_max:.0%}",
                value=float(mem_ratio),
                threshold=mem_max,
            )
        )
    # Forwarding gave up on these (a leg past its retry or lookup cap, or one a retry cannot fix): the
    # admin's payout queue shows why. Not in the seed thresholds, so it defaults to "any at all".
    need_operator = int(collected.payments_open.get(SplitStatus.FAILED, 0))
    need_operator_max = float(limits.get("payouts_need_operator_max", 0))
    if need_operator > need_operator_max:
        alerts.append(
            Alert(
                name="payouts_need_operator",
                message=f"{need_operator} payment(s) need an operator in the payout queue",
                value=float(need_operator),
                threshold=need_operator_max,
            )
        )
    alerts += books_alerts(collected.books)
    return alerts + _limit_alerts(collected.provider_limits)


def _limit_alerts(status: LimitStatus | None) -> list[Alert]:
    """Blink's account limits reached (payments/provider_limits.py): always worth an operator's look, and
    the fix is Blink's (raise the platform account's limits), so any occurrence alerts."""
    if status is None:
        return []
    alerts: list[Alert] = []
    if status.invoice_block_seconds:
        alerts.append(
            Alert(
                name="provider_invoice_rate_limited",
                message=f"Blink refuses new invoices on the platform account for {status.invoice_block_seconds} s "
                "more (invoice rate limit): terminals get 429; ask Blink to raise the limit",
                value=float(status.invoice_block_seconds),
                threshold=0.0,
            )
        )
    if status.legs_waiting_for_limit:
        alerts.append(
            Alert(
                name="forwards_waiting_for_daily_limit",
                message=f"{status.legs_waiting_for_limit} payout(s) wait for the platform's daily intraledger limit "
                "(TRANSACTION_RESTRICTED); they are retried; ask Blink to raise the limit",
                value=float(status.legs_waiting_for_limit),
                threshold=0.0,
            )
        )
    if status.legs_given_up_on_limit:
        alerts.append(
            Alert(
                name="forwards_stopped_by_daily_limit",
                message=f"{status.legs_given_up_on_limit} payout(s) stopped retrying after the daily intraledger "
                "limit; retry them from the payout queue once Blink has raised it",
                value=float(status.legs_given_up_on_limit),
                threshold=0.0,
            )
        )
    return alerts


def books_alerts(books: dict[str, Any]) -> list[Alert]:
    """The books reconciliation: any difference between our books and Blink's, or a run that failed.
    Thresholds are zero by design: a books difference is always worth an operator's look."""
    alerts: list[Alert] = []
    differences = books.get("differences")
    if isinstance(differences, int) and differences > 0:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(books.get("by_kind", {}).items()))
        alerts.append(
            Alert(
                name="books_differ",
                message=f"Books run {books.get('run_id')}: {differences} difference(s) with Blink ({kinds})",
                value=float(differences),
                threshold=0.0,
            )
        )
    if books.get("latest_run_failed"):
        alerts.append(
            Alert(
                name="books_run_failed",
                message=f"Books run {books.get('latest_run_id')} could not finish; see its error in the admin",
                value=1.0,
                threshold=0.0,
            )
        )
    return alerts


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
        figures.append(Figure(name="provider_invoice_block_seconds", value=limits.invoice_block_seconds or 0, unit="s"))
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
