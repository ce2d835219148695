"""The back office's landing page: Django's admin index with an operators' overview above the app list.

The overview shows today's and the last 24 hours' statistics (``analytics.platform_statistics``),
open payments, top tip recipients, hot-store and pool health, Celery queue depths, active alerts and
a 14-day chart. Each block is read on its own and a failing one (Redis away, the broker unreachable)
is reported in place instead of failing the whole page: the page is most needed when something is
down. Its template is ``blinkpos/templates/admin/blinkpos_index.html``; this module is found by the
admin's autodiscovery because ``blinkpos`` is an installed app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from analytics import platform_statistics
from analytics.charts import Series, bar_chart
from analytics.selectors import active_alerts
from blinkpos import health
from blinkpos.celery_queues import queue_names
from blinkpos.db_router import replica_reads
from blinkpos.logging import get_logger
from blinkpos.redis_config import broker_client

log = get_logger(__name__)


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue (Redis lists named after the queue on the broker)."""
    names = queue_names()
    client = broker_client(timeout=0.5)
    try:
        return {name: int(client.llen(name)) for name in sorted(names)}
    finally:
        client.close()


def _safe(name: str, fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:  # one broken block must not hide the rest of the page
        log.warning("ops_overview_block_failed", block=name, error=type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def ops_overview() -> dict[str, Any]:
    """Everything the landing page shows, each block wrapped as ``{"ok", "value" | "error"}``. The
    statistics only show figures, so they may come from a read replica (blinkpos/db_router.py)."""
    with replica_reads():
        series = _safe("daily", platform_statistics.daily_series)
        statistics = {
            "today": _safe("today", platform_statistics.statistics_today),
            "last_24h": _safe("24h", platform_statistics.statistics_24h),
            "active": _safe("active", platform_statistics.active_payments),
            "top_recipients": _safe("top", platform_statistics.top_tip_recipients),
        }
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
        **statistics,
        "hot_store": _safe("hot_store", health.hot_store_stats),
        "components": _safe("components", health.components),
        "pool": _safe("pool", health.pool_stats),
        "queues": _safe("queues", queue_depths),
        "alerts": _safe("alerts", lambda: list(active_alerts())),
        "daily_chart": chart,
    }


admin.site.site_header = "BlinkPOS back office"
admin.site.site_title = "BlinkPOS back office"
admin.site.index_title = "Overview"
admin.site.index_template = "admin/blinkpos_index.html"
_default_index = admin.site.index


def _index_with_overview(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    return _default_index(request, {**ops_overview(), **(extra_context or {})})


# AdminSite builds its URLs from ``self.index`` when the URLconf loads (after autodiscover), so replacing
# the bound method on the default site is enough; no custom AdminSite class has to be configured.
admin.site.index = _index_with_overview  # type: ignore[method-assign,assignment]
