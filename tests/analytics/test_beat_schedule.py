"""The data migration's beat schedule: every job present, with the intended cadence, and each task
name resolvable by the Celery app (except the reconciler, written by the forwarding work)."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from blinkpos.celery_app import app

pytestmark = pytest.mark.django_db

EXPECTED = {
    "expire_old_payments": ("payments.tasks.maintenance.expire_old_payments_task", 60),
    "reconcile": ("payments.tasks.forwarding.reconcile_task", 20),
    "snapshot_metrics": ("analytics.tasks.snapshot_metrics_task", 60),
    "refresh_stats": ("analytics.tasks.refresh_stats_task", 300),
    "cleanup_old_data": ("payments.tasks.maintenance.cleanup_old_data_task", None),
    "check_recipients": ("payments.tasks.maintenance.check_recipients_task", None),
}


def test_schedule_rows_exist_with_their_cadence() -> None:
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=EXPECTED)}
    assert set(tasks) == set(EXPECTED)
    for name, (task_name, every) in EXPECTED.items():
        row = tasks[name]
        assert row.task == task_name and row.enabled
        if every is None:
            assert row.crontab is not None and row.crontab.minute.isdigit() and row.crontab.hour.isdigit()
        else:
            assert row.interval is not None and (row.interval.every, row.interval.period) == (every, "seconds")


def test_scheduled_maintenance_tasks_are_registered() -> None:
    app.loader.import_default_modules()
    for task_name, _ in EXPECTED.values():
        if task_name.startswith("payments.tasks.forwarding"):
            continue
        assert task_name in app.tasks
