"""The beat schedule declared in code: synced into django-celery-beat's rows after migrate, operator edits
kept, ``--reset`` restoring the code, every declared task registered with the Celery app."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from blinkpos.beat import ScheduledJob, declared_jobs, sync_schedule
from blinkpos.celery_app import app

pytestmark = pytest.mark.django_db

EXPECTED = {
    "expire_old_payments": ("payments.tasks.maintenance.expire_old_payments_task", 60),
    "reconcile": ("payments.tasks.forwarding.reconcile_task", 20),
    "hotstore_repair": ("payments.tasks.maintenance.hotstore_repair_task", 20),
    "snapshot_metrics": ("analytics.tasks.snapshot_metrics_task", 60),
    "refresh_stats": ("analytics.tasks.refresh_stats_task", 300),
    "cleanup_old_data": ("payments.tasks.maintenance.cleanup_old_data_task", None),
    "check_recipients": ("payments.tasks.maintenance.check_recipients_task", None),
}


def test_migrate_leaves_every_declared_job_with_its_cadence() -> None:
    # given: the test database, created by migrate (post_migrate ran the sync)
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=EXPECTED)}
    # then
    assert set(tasks) == set(EXPECTED)
    for name, (task_name, every) in EXPECTED.items():
        row = tasks[name]
        assert row.task == task_name and row.enabled
        if every is None:
            assert row.crontab is not None and row.crontab.minute.isdigit() and row.crontab.hour.isdigit()
        else:
            assert row.interval is not None and (row.interval.every, row.interval.period) == (every, "seconds")


def test_every_declared_task_is_registered_with_the_celery_app() -> None:
    app.loader.import_default_modules()
    for job in declared_jobs():
        assert job.task in app.tasks, job.task


def test_an_operator_edit_survives_a_sync_and_reset_restores_the_code() -> None:
    # given: an operator slowed the reconciler down and paused the metrics snapshot in the admin
    slow, _ = IntervalSchedule.objects.get_or_create(every=600, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="reconcile").update(interval=slow)
    PeriodicTask.objects.filter(name="snapshot_metrics").update(enabled=False)

    # when: a deploy runs the sync again
    report = sync_schedule()

    # then: the operator's choices stand
    assert report.created == [] and report.updated == []
    assert PeriodicTask.objects.get(name="reconcile").interval.every == 600
    assert PeriodicTask.objects.get(name="snapshot_metrics").enabled is False

    # when: the operator asks for the code's schedule back
    before = PeriodicTasks.objects.get(ident=1).last_update
    out = StringIO()
    call_command("sync_beat_schedule", "--reset", stdout=out)

    # then
    assert PeriodicTask.objects.get(name="reconcile").interval.every == 20
    assert PeriodicTask.objects.get(name="snapshot_metrics").enabled is True
    assert "updated: reconcile" in out.getvalue() and "updated: snapshot_metrics" in out.getvalue()
    assert PeriodicTasks.objects.get(ident=1).last_update > before  # a running beat reloads


def test_a_missing_job_is_created_and_a_renamed_task_path_is_updated() -> None:
    # given: one row deleted by hand, another still pointing at an old task path
    PeriodicTask.objects.filter(name="refresh_stats").delete()
    PeriodicTask.objects.filter(name="cleanup_old_data").update(task="payments.tasks.old_cleanup")

    # when
    report = sync_schedule()

    # then
    assert report.created == ["refresh_stats"]
    assert report.updated == ["cleanup_old_data"]
    assert PeriodicTask.objects.get(name="cleanup_old_data").task == EXPECTED["cleanup_old_data"][0]
    assert PeriodicTask.objects.get(name="refresh_stats").interval.every == 300


def test_rows_no_app_declares_are_reported_and_left_alone() -> None:
    # given: a job an operator added in the admin
    every, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="operator-custom", task="some.other.task", interval=every)

    # when
    out = StringIO()
    call_command("sync_beat_schedule", stdout=out)

    # then
    assert "not declared in code (left as it is): operator-custom" in out.getvalue()
    assert PeriodicTask.objects.filter(name="operator-custom", enabled=True).exists()


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"every_seconds": 60, "at_hour": 3}],
    ids=["no cadence", "two cadences"],
)
def test_a_job_needs_exactly_one_cadence(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="exactly one of every_seconds or at_hour"):
        ScheduledJob(name="x", task="t", description="d", **kwargs)


def test_a_name_declared_twice_is_refused(settings: object) -> None:
    settings.BEAT_SCHEDULE_MODULES = ["payments.tasks.schedule.JOBS", "payments.tasks.schedule.JOBS"]  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="declared twice"):
        declared_jobs()
