"""The Celery policy of the tasks that send money: a killed worker's message is redelivered (never
lost, never acknowledged before the work), only transient errors retry, and a task is always dead
before the reconciler treats its leg's ``sending`` as stale."""

from __future__ import annotations

import pytest
from django.db.utils import OperationalError

from payments.services.reconcile import SENDING_STALE_SECONDS
from payments.tasks.forwarding import forward_split_task, webhook_delivery_task
from payments.wallet.errors import WalletUnavailable


@pytest.mark.parametrize("task", [forward_split_task, webhook_delivery_task], ids=lambda t: t.name.rsplit(".", 1)[1])
def test_money_tasks_are_redelivered_after_a_worker_dies_and_end_before_sending_goes_stale(task: object) -> None:
    assert task.acks_late is True  # type: ignore[attr-defined]
    assert task.reject_on_worker_lost is True  # type: ignore[attr-defined]
    assert set(task.autoretry_for) == {WalletUnavailable, OperationalError}  # type: ignore[attr-defined]
    assert task.soft_time_limit < task.time_limit < SENDING_STALE_SECONDS  # type: ignore[attr-defined]
