"""The queues page's reads: each Celery queue on the Redis broker (depth, oldest message), the workers
that answer Celery's inspect broadcast within ``INSPECT_TIMEOUT``, recorded failures and retries, the
payout queue, and beat's schedules with whether each is late.

Kombu's Redis transport pushes new messages on the left of a list named after the queue and workers
take from the right, so the oldest waiting message is ``LINDEX queue -1``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_celery_beat.models import PeriodicTask

from blinkpos.celery_queues import queue_names
from blinkpos.redis_config import broker_client
from console.masking import mask_text
from console.models import TaskFailure
from console.task_failures import PUBLISHED_AT_HEADER
from payments.models import LegStatus, PaymentLeg

INSPECT_TIMEOUT = 1.0  # seconds the page waits for workers to answer
LATE_GRACE = timedelta(seconds=60)  # a schedule is late once it is this far past its due time


@dataclass
class QueueState:
    name: str
    depth: int
    oldest_task: str | None = None
    oldest_published_at: datetime | None = None
    oldest_age_seconds: int | None = None
    oldest_eta: str | None = None


def _oldest(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    headers = message.get("headers") or {}
    return {
        "task": headers.get("task"),
        "published_at": parse_datetime(str(headers.get(PUBLISHED_AT_HEADER) or "")),
        "eta": headers.get("eta"),
    }


def queues() -> list[QueueState]:
    client = broker_client(timeout=0.5)
    now = timezone.now()
    try:
        out = []
        for name in queue_names():
            state = QueueState(name=name, depth=int(client.llen(name)))
            if state.depth:
                oldest = _oldest(client.lindex(name, -1))
                state.oldest_task = oldest.get("task")
                state.oldest_eta = oldest.get("eta")
                published = oldest.get("published_at")
                if published:
                    state.oldest_published_at = published
                    state.oldest_age_seconds = max(0, int((now - published).total_seconds()))
            out.append(state)
        return out
    finally:
        client.close()


@dataclass
class WorkersState:
    answered: bool
    elapsed_seconds: float
    timeout_seconds: float
    workers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None


def workers(*, timeout: float = INSPECT_TIMEOUT) -> WorkersState:
    """Workers alive and the tasks each is running: one inspect broadcast, waiting ``timeout`` seconds
    at most for replies (no reply is an answer too: no worker alive, or all too busy to answer)."""
    from blinkpos.celery_app import app

    started = time.monotonic()
    try:
        active = app.control.inspect(timeout=timeout).active() or {}
    except Exception as exc:  # broker away: the page says so instead of failing
        return WorkersState(False, round(time.monotonic() - started, 2), timeout, error=type(exc).__name__)
    running = {
        worker: [
            {
                "name": task.get("name") or task.get("type"),
                "id": task.get("id"),
                "args": mask_text(str(task.get("args")))[:200],
                "started": datetime.fromtimestamp(task["time_start"], tz=UTC) if task.get("time_start") else None,
            }
            for task in tasks or []
        ]
        for worker, tasks in sorted(active.items())
    }
    return WorkersState(bool(running), round(time.monotonic() - started, 2), timeout, workers=running)


def failures(*, limit: int = 50) -> dict[str, Any]:
    since = timezone.now() - timedelta(hours=24)
    recent = TaskFailure.objects.filter(recorded_at__gte=since)
    return {
        "rows": list(TaskFailure.objects.all()[:limit]),
        "by_task": list(recent.values("task_name", "kind").annotate(n=Count("id")).order_by("-n")[:20]),
        "retention_days": TaskFailure.RETENTION.days,
    }


def payout_queue() -> dict[str, int]:
    """Legs an operator or the reconciler still has to settle, by status."""
    waiting = [LegStatus.FAILED, LegStatus.UNKNOWN, LegStatus.PENDING, LegStatus.SENDING]
    counts = dict(
        PaymentLeg.objects.filter(status__in=waiting).values_list("status").annotate(n=Count("id")).order_by()
    )
    return {str(status): int(counts.get(status, 0)) for status in waiting}


@dataclass
class BeatRow:
    name: str
    task: str
    enabled: bool
    schedule: str
    last_run_at: datetime | None
    total_run_count: int
    next_due: datetime | None
    late_by_seconds: int | None  # > 0: late by this much beyond LATE_GRACE's allowance
    state: str  # "ok", "late", "never run", "disabled", "one-off done"


def beat(*, now: datetime | None = None) -> list[BeatRow]:
    now = now or timezone.now()
    rows = []
    tasks = PeriodicTask.objects.select_related("interval", "crontab", "solar", "clocked").order_by("name")
    for task in tasks:
        schedule_text = str(task.interval or task.crontab or task.solar or task.clocked or "—")
        row = BeatRow(
            name=task.name,
            task=task.task,
            enabled=task.enabled,
            schedule=schedule_text,
            last_run_at=task.last_run_at,
            total_run_count=task.total_run_count,
            next_due=None,
            late_by_seconds=None,
            state="ok",
        )
        if not task.enabled:
            row.state = "one-off done" if task.one_off and task.last_run_at else "disabled"
        elif task.last_run_at is None:
            row.state = "never run"
        else:
            try:
                remaining = task.schedule.remaining_estimate(task.last_run_at)
            except Exception:  # a schedule type without an estimate (solar at the poles, clocked): no verdict
                remaining = None
            if remaining is not None:
                row.next_due = now + remaining
                overdue = -remaining
                if overdue > LATE_GRACE:
                    row.state = "late"
                    row.late_by_seconds = int(overdue.total_seconds())
        rows.append(row)
    return rows
