"""Maintenance tasks run by Celery beat (schedule: ``payments/tasks/schedule.py``).

No arguments; each calls one service that is safe to run twice or concurrently. Explicit time limits:
a job that overruns is stopped rather than piling up behind the next beat tick. ``snapshot_metrics``
and ``refresh_stats`` (which record ``system_metrics`` rows) live in ``analytics.tasks``: payments never
imports analytics.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

__all__ = [
    "check_recipients_task",
    "cleanup_old_data_task",
    "event_partitions_task",
    "expire_old_payments_task",
    "hotstore_repair_task",
]


@shared_task(name="payments.tasks.maintenance.expire_old_payments_task", soft_time_limit=50, time_limit=60)
def expire_old_payments_task() -> dict[str, Any]:
    from payments.services.maintenance import splits_expire

    result = splits_expire()
    return {"expired": result.expired, "batches": result.batches}


@shared_task(name="payments.tasks.maintenance.check_recipients_task", soft_time_limit=840, time_limit=900)
def check_recipients_task() -> dict[str, Any]:
    from payments.services.maintenance import recipients_check

    result = recipients_check()
    return {
        "checked": result.checked,
        "ok": result.ok,
        "flagged": len(result.flagged),
        "unchecked": result.unchecked,
        "provider_error": result.provider_error,
    }


@shared_task(name="payments.tasks.maintenance.cleanup_old_data_task", soft_time_limit=1700, time_limit=1800)
def cleanup_old_data_task() -> dict[str, Any]:
    from payments.services.maintenance import old_data_cleanup

    result = old_data_cleanup()
    return {
        "metrics_deleted": result.metrics_deleted,
        "events_deleted": result.events_deleted,
        "deliveries_deleted": result.deliveries_deleted,
        "idempotency_deleted": result.idempotency_deleted,
    }


@shared_task(name="payments.tasks.maintenance.event_partitions_task", soft_time_limit=110, time_limit=120)
def event_partitions_task() -> dict[str, Any]:
    from payments.services.event_partitions import event_partitions_ensure

    result = event_partitions_ensure()
    return {"created": result.created, "failed": result.failed}


@shared_task(name="payments.tasks.maintenance.hotstore_repair_task", soft_time_limit=15, time_limit=18)
def hotstore_repair_task() -> dict[str, Any]:
    from blinkpos.logging import get_logger
    from payments import store

    try:
        return {"corrected": store.repair_recent()}
    except store.HotStoreUnavailable as exc:
        # Redis still away: the mark did not move, so the next tick covers this stretch too.
        get_logger(__name__).warning("hotstore.repair_postponed", error=str(exc))
        return {"corrected": None}
