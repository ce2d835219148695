"""Queues and workers: depth and the oldest message (its task and age from the published_at stamp),
an answer within the inspect timeout when no worker responds, failures and retries recorded by the
signals (masked, bounded), and beat's schedules marked late when their last run is overdue."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.signals import task_failure, task_retry
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from blinkpos.celery_app import app
from console import queues, task_failures
from console.models import TaskFailure

pytestmark = pytest.mark.django_db


def test_the_page_answers_within_its_timeout_when_no_worker_responds(
    console_operator: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queues, "INSPECT_TIMEOUT", 0.5)
    started = time.monotonic()
    response = console_operator.get(reverse("admin:console_queues"))
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert 'id="no-workers"' in response.content.decode()
    assert elapsed < 0.5 + 2.0  # the timeout plus rendering, never Celery's default wait


def test_a_waiting_message_shows_in_its_queue_with_its_age() -> None:
    app.send_task("payments.tasks.nothing_here", args=[1])  # published, never consumed: no worker runs here
    state = {q.name: q for q in queues.queues()}[settings.CELERY_TASK_DEFAULT_QUEUE]  # unrouted: the default
    assert state.depth == 1
    assert state.oldest_task == "payments.tasks.nothing_here"
    assert state.oldest_age_seconds is not None and 0 <= state.oldest_age_seconds < 60


def test_failures_and_retries_are_recorded_masked() -> None:
    class Task:
        name = "payments.tasks.forward_leg"

    class Request:
        id = "retry-1"

    task_failure.send(
        sender=Task(), task_id="t-1", exception=RuntimeError("Blink said no to blink_AbCdEf0123456789xyz")
    )
    task_retry.send(sender=Task(), request=Request(), reason=TimeoutError("read timed out"))

    rows = list(TaskFailure.objects.order_by("id").values_list("kind", "task_id", "exception_type", "message"))
    assert rows == [
        ("failure", "t-1", "RuntimeError", "Blink said no to ••••••"),
        ("retry", "retry-1", "TimeoutError", "read timed out"),
    ]


def test_the_failure_record_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TaskFailure, "MAX_ROWS", 5)
    old = TaskFailure.objects.create(task_name="old", kind="failure")
    TaskFailure.objects.filter(pk=old.pk).update(
        recorded_at=timezone.now() - TaskFailure.RETENTION - timedelta(hours=1)
    )
    for i in range(8):
        task_failures.record(task_name=f"t{i}", task_id=str(i), kind="failure", exc=ValueError("x"))
    names = list(TaskFailure.objects.order_by("id").values_list("task_name", flat=True))
    assert names == ["t3", "t4", "t5", "t6", "t7"]


def test_beat_marks_an_overdue_schedule_late_and_a_recent_one_ok(console_operator: Client) -> None:
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(
        name="console-test-late", task="x.late", interval=every_minute, last_run_at=timezone.now() - timedelta(hours=1)
    )
    PeriodicTask.objects.create(name="console-test-ok", task="x.ok", interval=every_minute, last_run_at=timezone.now())
    PeriodicTask.objects.create(name="console-test-never", task="x.never", interval=every_minute)

    rows = {row.name: row for row in queues.beat()}

    assert rows["console-test-late"].state == "late"
    assert rows["console-test-late"].late_by_seconds is not None and rows["console-test-late"].late_by_seconds > 3000
    assert rows["console-test-ok"].state == "ok"
    assert rows["console-test-never"].state == "never run"
    body = console_operator.get(reverse("admin:console_queues")).content.decode()
    assert "console-test-late" in body and 'bp-bad">late' in body
