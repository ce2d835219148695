"""Reads over ``system_metrics`` for the admin, the dashboard and the observability views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from analytics.models import SystemMetric
from analytics.services.metrics import ALERT_METRIC, SNAPSHOT_MARKER

# A snapshot older than this means beat or the worker is not running: that is itself an alert.
STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True)
class ActiveAlert:
    name: str
    message: str
    value: Decimal | None
    threshold: float | None
    since: datetime | None


def latest_snapshot_bucket() -> tuple[str, datetime] | None:
    row = SystemMetric.objects.filter(metric_name=SNAPSHOT_MARKER).order_by("-timestamp").first()
    if row is None:
        return None
    return str(row.metadata.get("bucket", "")), row.timestamp


def active_alerts(*, now: datetime | None = None) -> list[ActiveAlert]:
    """Alerts raised by the latest metrics snapshot, plus a ``metrics_stale`` alert when there is no
    recent snapshot. For the admin and dashboard warning banners."""
    now = now or timezone.now()
    latest = latest_snapshot_bucket()
    if latest is None or now - latest[1] > STALE_AFTER:
        when = latest[1] if latest else None
        message = (
            f"No metrics snapshot since {when:%Y-%m-%d %H:%M} UTC: is Celery beat running?"
            if when
            else "No metrics snapshot yet: is Celery beat running?"
        )
        return [ActiveAlert(name="metrics_stale", message=message, value=None, threshold=None, since=when)]
    bucket, when = latest
    rows = SystemMetric.objects.filter(metric_name=ALERT_METRIC, metadata__bucket=bucket).order_by("id")
    return [
        ActiveAlert(
            name=str(r.metadata.get("alert", "")),
            message=str(r.metadata.get("message", "")),
            value=r.metric_value,
            threshold=r.metadata.get("threshold"),
            since=when,
        )
        for r in rows
    ]


def latest_metrics() -> dict[str, dict[str, Any]]:
    """The latest snapshot's figures by name: {name: {value, unit, metadata, timestamp}}."""
    latest = latest_snapshot_bucket()
    if latest is None:
        return {}
    rows = SystemMetric.objects.filter(metadata__bucket=latest[0]).exclude(metric_name=ALERT_METRIC)
    return {
        r.metric_name: {
            "value": r.metric_value,
            "unit": r.metric_unit,
            "metadata": r.metadata,
            "timestamp": r.timestamp,
        }
        for r in rows
    }
