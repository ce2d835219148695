"""snapshot_metrics: figures from Redis counters and cheap queries, alerts against thresholds, one
snapshot per minute however many runs."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.models import SystemMetric
from analytics.selectors import active_alerts, latest_metrics
from analytics.services.metrics import metrics_snapshot
from analytics.tasks import refresh_stats_task, snapshot_metrics_task
from payments import metrics as latency
from payments.models import SplitStatus
from payments.tasks.maintenance import cleanup_old_data_task, expire_old_payments_task
from tests.factories import PaymentSplitFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _counters(hits: int, misses: int, fallbacks: int = 0) -> None:
    redis = get_redis_connection("hot")
    redis.set("metrics:hotstore:hits", hits)
    redis.set("metrics:hotstore:misses", misses)
    redis.set("metrics:hotstore:fallbacks", fallbacks)


def test_snapshot_writes_the_figures() -> None:
    # given
    _counters(90, 10)
    for ms in range(1, 101):
        latency.observe_latency("create_invoice", float(ms))
    PaymentSplitFactory.create_batch(2)
    PaymentSplitFactory(status=SplitStatus.COMPLETED)
    get_redis_connection("default").rpush("maintenance", "a", "b")
    get_redis_connection("default").rpush("forwarding", "c")
    # when
    result = metrics_snapshot()
    # then
    figures = latest_metrics()
    assert not result.skipped
    assert figures["hotstore_hits"]["value"] == 90
    assert figures["hotstore_hit_ratio"]["value"] == Decimal("0.9")
    assert figures["latency_create_invoice_p50"]["value"] == 50
    assert figures["latency_create_invoice_p95"]["value"] == 95
    assert figures["latency_create_invoice_p99"]["value"] == 99
    assert "latency_forward_leg_p95" not in figures  # no samples, no figure
    assert figures["payments_24h_pending"]["value"] == 2
    assert figures["payments_24h_completed"]["value"] == 1
    assert figures["payments_open_pending"]["value"] == 2
    assert figures["celery_queue_depth"]["value"] == 3
    assert "redis_memory_used_bytes" in figures
    assert "pg_pool_usage_ratio" in figures
    assert active_alerts() == []


def test_alerts_are_raised_and_shown(settings: object) -> None:
    _counters(10, 90)
    for _ in range(20):
        latency.observe_latency("forward_leg", 900.0)
    metrics_snapshot()
    names = {a.name for a in active_alerts()}
    assert names == {"hotstore_hit_ratio_low", "latency_forward_leg_p95_high"}
    alert = SystemMetric.objects.get(metric_name="alert", metadata__alert="latency_forward_leg_p95_high")
    assert alert.metric_value == 900
    assert alert.metadata["threshold"] == 500.0


def test_hit_ratio_alert_judges_the_interval_since_the_last_snapshot() -> None:
    _counters(1000, 0)
    metrics_snapshot(now=timezone.now() - timedelta(minutes=1))
    _counters(1010, 40)  # 10 hits, 40 misses since: 20 %
    metrics_snapshot()
    assert [a.name for a in active_alerts()] == ["hotstore_hit_ratio_low"]
    assert latest_metrics()["hotstore_hit_ratio"]["metadata"]["window"] == "interval"


def test_stale_snapshots_are_an_alert() -> None:
    assert [a.name for a in active_alerts()] == ["metrics_stale"]
    metrics_snapshot()
    SystemMetric.objects.update(timestamp=timezone.now() - timedelta(minutes=10))
    assert [a.name for a in active_alerts()] == ["metrics_stale"]


def test_snapshot_twice_and_concurrently_writes_one_set_of_rows() -> None:
    _counters(5, 5)
    now = timezone.now().replace(second=10)
    results = run_concurrently(lambda: metrics_snapshot(now=now), threads=3)
    assert sorted(r.skipped for r in results) == [False, True, True]
    rows = SystemMetric.objects.count()
    assert metrics_snapshot(now=now).skipped
    assert SystemMetric.objects.count() == rows
    assert SystemMetric.objects.filter(metric_name="snapshot").count() == 1


def test_command_prints_alerts() -> None:
    _counters(0, 100)
    out = io.StringIO()
    call_command("snapshot_metrics", stdout=out)
    assert "ALERT hotstore_hit_ratio_low" in out.getvalue()


def test_every_beat_task_runs_twice_without_arguments() -> None:
    PaymentSplitFactory(expires_at=timezone.now() - timedelta(minutes=1))
    for task in (expire_old_payments_task, cleanup_old_data_task, snapshot_metrics_task, refresh_stats_task):
        first, second = task(), task()
        assert isinstance(first, dict) and isinstance(second, dict)
    assert SystemMetric.objects.filter(metric_name="snapshot").count() == 1
