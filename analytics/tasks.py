"""Beat jobs that write ``system_metrics``: the minute snapshot and the tip-stats refresh. No arguments,
explicit time limits, safe to run twice or concurrently (see the services)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

__all__ = ["refresh_stats_task", "snapshot_metrics_task"]


@shared_task(name="analytics.tasks.snapshot_metrics_task", soft_time_limit=45, time_limit=55)
def snapshot_metrics_task() -> dict[str, Any]:
    from analytics.services.metrics import metrics_snapshot

    result = metrics_snapshot()
    return {"bucket": result.bucket, "written": result.written, "alerts": len(result.alerts)}


@shared_task(name="analytics.tasks.refresh_stats_task", soft_time_limit=240, time_limit=280)
def refresh_stats_task() -> dict[str, Any]:
    from analytics.services.metrics import stats_refresh_record

    result = stats_refresh_record()
    return {"recipients": result.recipients, "repaired": result.repaired}
