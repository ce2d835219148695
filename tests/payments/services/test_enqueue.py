"""Services publish the money tasks by name (so they never import the task modules): the names must be
the ones the tasks are registered under, or every publish would go to a task no worker knows."""

from __future__ import annotations

from payments.services import enqueue
from payments.tasks.forwarding import forward_split_task, webhook_delivery_task


def test_published_names_are_the_registered_task_names() -> None:
    assert forward_split_task.name == enqueue.FORWARD_SPLIT_TASK
    assert webhook_delivery_task.name == enqueue.WEBHOOK_DELIVERY_TASK
