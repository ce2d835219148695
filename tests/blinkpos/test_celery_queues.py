"""Celery queues by kind of work: where each task lands, and a money worker that keeps going while
maintenance piles up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django_redis import get_redis_connection

from blinkpos.celery_app import app
from blinkpos.celery_queues import ALL_QUEUES, FORWARDING, MAINTENANCE, WEBHOOKS_IN, queue_names
from blinkpos.stack import QUEUE_WORKERS, Stack
from tests.database_url import database_url_for_tests

OUR_TASKS = ("payments.", "analytics.", "console.")


def _queue_of(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name, args=(), kwargs={})
    return str(route["queue"].name)


def _our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(OUR_TASKS))


def test_every_task_of_ours_lands_in_a_declared_queue() -> None:
    tasks = _our_tasks()
    assert "payments.tasks.forwarding.forward_split_task" in tasks
    for name in tasks:
        assert _queue_of(name) in ALL_QUEUES, name


def test_money_work_and_background_work_never_share_a_queue() -> None:
    assert _queue_of("payments.tasks.forwarding.forward_split_task") == FORWARDING
    assert _queue_of("payments.tasks.forwarding.payment_check_task") == FORWARDING
    assert _queue_of("payments.tasks.forwarding.webhook_delivery_task") == WEBHOOKS_IN
    for job in settings.BEAT_SCHEDULE_MODULES:
        module, _, attribute = job.rpartition(".")
        for scheduled in getattr(__import__(module, fromlist=[attribute]), attribute):
            assert _queue_of(scheduled.task) == MAINTENANCE, scheduled.task


def test_the_stack_starts_a_worker_per_group_and_every_queue_is_consumed() -> None:
    consumed = [queue for queues in QUEUE_WORKERS.values() for queue in queues]
    assert sorted(consumed) == sorted(ALL_QUEUES)  # each queue by exactly one worker group
    assert set(QUEUE_WORKERS["worker"]) == {FORWARDING, WEBHOOKS_IN}
    assert set(queue_names()) == set(ALL_QUEUES)


def _depths() -> dict[str, int]:
    client = get_redis_connection("default")
    return {name: int(client.llen(name)) for name in ALL_QUEUES}


@pytest.mark.django_db(transaction=True)
def test_a_maintenance_backlog_does_not_hold_up_the_money_worker(tmp_path: Path) -> None:
    # Given a backlog of maintenance tasks and a payment check behind it, published as the app does
    backlog = 40
    client = get_redis_connection("default")
    client.delete(*ALL_QUEUES)
    for _ in range(backlog):
        app.send_task("payments.tasks.maintenance.expire_old_payments_task")
    app.send_task("payments.tasks.forwarding.payment_check_task", args=[-1])
    assert _depths()[MAINTENANCE] == backlog
    assert _depths()[FORWARDING] == 1

    # When the money worker of `make run` starts (its queues only)
    env: dict[str, Any] = {
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PG_POOL_MIN": "1",
    }
    with Stack(fake_port=None, settings_module="blinkpos.settings.test", extra_env=env, log_dir=tmp_path) as stack:
        worker = stack.start_worker("worker", queues=QUEUE_WORKERS["worker"], concurrency=1)
        deadline = time.monotonic() + 90
        log = Path(str(worker.log_path))
        while time.monotonic() < deadline and "payment_check_task" not in _succeeded(log):
            time.sleep(0.5)

        # Then the payment check ran and the maintenance backlog is untouched
        assert "payment_check_task" in _succeeded(log)
        assert _depths()[FORWARDING] == 0
        assert _depths()[MAINTENANCE] == backlog
    client.delete(*ALL_QUEUES)


def _succeeded(log: Path) -> str:
    if not log.exists():
        return ""
    return "\n".join(line for line in log.read_text(errors="replace").splitlines() if "succeeded" in line)
