"""The Celery beat schedule: declared in code beside each app's tasks, kept in django-celery-beat's tables.

Each app lists its periodic jobs as ``ScheduledJob`` values (``payments/tasks/schedule.py``,
``analytics/schedule.py``); ``settings.BEAT_SCHEDULE_MODULES`` names those lists. Beat runs
``DatabaseScheduler``, so the rows in ``django_celery_beat_periodictask`` are what actually runs and an
operator can change a cadence or pause a job in the admin. ``sync_schedule`` reconciles code and rows
after every ``migrate`` (and on demand with ``manage.py sync_beat_schedule``):

- a job missing from the table is created with the code's cadence;
- for an existing row the code owns the task path and description (a renamed task must not leave a row
  pointing at nothing); the operator owns the cadence, expiry and ``enabled``, which are kept unless
  ``reset=True`` asks for the code's values back.

Celery's own ``beat_schedule`` setting is deliberately not used: django-celery-beat writes it over the
rows at every beat start, which would undo an operator's edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string


@dataclass(frozen=True, kw_only=True)
class ScheduledJob:
    """One periodic job: either ``every_seconds`` or a daily UTC time (``at_hour``, ``at_minute``)."""

    name: str
    task: str
    description: str
    every_seconds: int | None = None
    at_hour: int | None = None
    at_minute: int = 0
    # A tick not picked up within this many seconds is dropped: after an outage, a backlog of stale
    # minute ticks must not run back to back.
    expire_seconds: int | None = None

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.at_hour is None):
            raise ValueError(f"{self.name}: give exactly one of every_seconds or at_hour")


@dataclass(kw_only=True)
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Rows whose task is not declared by any app: reported, never deleted (an operator may have added them).
    undeclared: list[str] = field(default_factory=list)


def declared_jobs() -> list[ScheduledJob]:
    """Every app's jobs, in settings order; a name declared twice is a programming error."""
    jobs: list[ScheduledJob] = []
    for dotted in settings.BEAT_SCHEDULE_MODULES:
        jobs.extend(import_string(dotted))
    names = [job.name for job in jobs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"beat jobs declared twice: {', '.join(duplicates)}")
    return jobs


def _schedule_fields(job: ScheduledJob) -> dict[str, Any]:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    if job.every_seconds is not None:
        interval, _ = IntervalSchedule.objects.get_or_create(every=job.every_seconds, period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None, "expire_seconds": job.expire_seconds}
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(job.at_minute),
        hour=str(job.at_hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    return {"interval": None, "crontab": crontab, "expire_seconds": job.expire_seconds}


def sync_schedule(jobs: Iterable[ScheduledJob] | None = None, *, reset: bool = False) -> SyncReport:
    """Create missing rows, keep code-owned fields current, and with ``reset`` restore the code's cadence.

    Touches only django-celery-beat's tables, in one transaction, and bumps ``PeriodicTasks`` so a running
    ``DatabaseScheduler`` reloads.
    """
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    jobs = list(declared_jobs() if jobs is None else jobs)
    report = SyncReport()
    with transaction.atomic():
        rows = PeriodicTask.objects.select_for_update().filter(name__in=[job.name for job in jobs])
        existing = {row.name: row for row in rows}
        for job in jobs:
            row = existing.get(job.name)
            if row is None:
                PeriodicTask.objects.create(
                    name=job.name, task=job.task, description=job.description, enabled=True, **_schedule_fields(job)
                )
                report.created.append(job.name)
                continue
            changed: dict[str, Any] = {"task": job.task, "description": job.description}
            if reset:
                changed.update(_schedule_fields(job), enabled=True)
            differs = [name for name, value in changed.items() if getattr(row, name) != value]
            if not differs:
                report.unchanged.append(job.name)
                continue
            for name in differs:
                setattr(row, name, changed[name])
            row.save()
            report.updated.append(job.name)
        declared_tasks = {job.task for job in jobs}
        report.undeclared = sorted(
            PeriodicTask.objects.exclude(task__in=declared_tasks)
            .exclude(name__startswith="celery.")  # django-celery-beat's own backend_cleanup entry
            .values_list("name", flat=True)
        )
        if report.created or report.updated:
            PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})
    return report


def sync_after_migrate(sender: Any, **kwargs: Any) -> None:
    """``post_migrate`` receiver: once per ``migrate``, after django-celery-beat's tables exist."""
    if getattr(sender, "label", None) == "django_celery_beat":
        sync_schedule()
