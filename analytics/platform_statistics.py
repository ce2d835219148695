"""Reads for the operators' landing page in the admin: the PostgreSQL views, hot-store and queue health.

Each block is read on its own and a failing one (Redis away, the broker unreachable) is reported in
place instead of failing the whole page: the page is most needed when something is down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.dashboard.charts import Series, bar_chart
from blinkpos import health
from blinkpos.logging import get_logger
from payments.models import PaymentSplit, SplitStatus

log = get_logger(__name__)

CHART_DAYS = 14


def _rows(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def statistics_today() -> dict[str, Any]:
    """Today's row of the ``payment_statistics`` view (UTC day), zeros when there were no payments."""
    rows = _rows("SELECT * FROM payment_statistics WHERE date = %s", [timezone.now().date()])
    return rows[0] if rows else {"total_payments": 0, "completed_payments": 0, "total_volume": 0, "total_tips": 0}


def statistics_24h() -> dict[str, Any]:
    """The same measures as ``payment_statistics`` over a rolling 24 hours."""
    since = timezone.now() - timedelta(hours=24)
    done = Q(status=SplitStatus.COMPLETED)
    return PaymentSplit.objects.filter(created_at__gte=since).aggregate(
        total_payments=Count("id"),
        completed_payments=Count("id", filter=done),
        pending_payments=Count("id", filter=Q(status=SplitStatus.PENDING)),
        failed_payments=Count("id", filter=Q(status=SplitStatus.FAILED)),
        total_volume=Sum("total_amount", filter=done, default=0),
        total_tips=Sum("tip_amount", filter=done, default=0),
    )


def daily_series(days: int = CHART_DAYS) -> list[dict[str, Any]]:
    """One row per UTC day for the last ``days`` days (missing days filled with zeros)."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    found = {
        r["date"]: r
        for r in _rows("SELECT date, total_volume, total_tips FROM payment_statistics WHERE date >= %s", [start])
    }
    out = []
    for i in range(days):
        day: date = start + timedelta(days=i)
        row = found.get(day, {})
        out.append({"date": day, "volume": int(row.get("total_volume") or 0), "tips": int(row.get("total_tips") or 0)})
    return out


def active_payments(limit: int = 20) -> dict[str, Any]:
    rows = _rows("SELECT * FROM active_payments ORDER BY created_at DESC LIMIT %s", [limit])
    count = _rows("SELECT COUNT(*) AS n FROM active_payments")[0]["n"]
    return {"rows": rows, "count": count}


def top_tip_recipients(limit: int = 10) -> list[dict[str, Any]]:
    return _rows("SELECT * FROM top_tip_recipients LIMIT %s", [limit])


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue (Redis lists named after the queue on the broker)."""
    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery"}
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return {name: int(client.llen(name)) for name in sorted(names)}
    finally:
        client.close()


def alerts() -> list[Any]:
    from analytics.selectors import active_alerts

    return list(active_alerts())


def _safe(name: str, fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:  # one broken block must not hide the rest of the page
        log.warning("ops_overview_block_failed", block=name, error=type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def ops_overview() -> dict[str, Any]:
    """Everything the admin landing page shows, each block wrapped as ``{"ok", "value" | "error"}``."""
    series = _safe("daily", daily_series)
    chart = None
    if series["ok"]:
        days = series["value"]
        chart = bar_chart(
            labels=[d["date"].strftime("%d %b") for d in days],
            series=[
                Series(name="volume", values=[d["volume"] for d in days]),
                Series(name="tips", values=[d["tips"] for d in days]),
            ],
            title="Completed volume and tips per day",
        )
    return {
        "today": _safe("today", statistics_today),
        "last_24h": _safe("24h", statistics_24h),
        "active": _safe("active", active_payments),
        "top_recipients": _safe("top", top_tip_recipients),
        "hot_store": _safe("hot_store", health.hot_store_stats),
        "components": _safe("components", health.components),
        "pool": _safe("pool", health.pool_stats),
        "queues": _safe("queues", queue_depths),
        "alerts": _safe("alerts", alerts),
        "daily_chart": chart,
    }
