"""The analytics app's periodic jobs (synced into django-celery-beat by ``blinkpos.beat``)."""

from __future__ import annotations

from blinkpos.beat import ScheduledJob

JOBS = [
    ScheduledJob(
        name="snapshot_metrics",
        task="analytics.tasks.snapshot_metrics_task",
        every_seconds=60,
        expire_seconds=55,
        description="Write system_metrics and evaluate alert thresholds.",
    ),
    ScheduledJob(
        name="refresh_stats",
        task="analytics.tasks.refresh_stats_task",
        every_seconds=300,
        expire_seconds=280,
        description="Verify tip_recipient_stats against the legs and repair drift.",
    ),
]
