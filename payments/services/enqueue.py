"""Publishing the money path's Celery tasks, by task name.

Services publish after commit what PostgreSQL already holds; the tasks call services. Sending by name
keeps that dependency one way (``payments.tasks`` imports services, never the reverse). A task's own
options (time limits, retries, acks) are registered with the task where the worker runs it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from blinkpos.celery_app import app
from blinkpos.logging import get_logger

log = get_logger(__name__)

# Names as registered by payments/tasks/forwarding.py (a test pins them to the task objects).
FORWARD_SPLIT_TASK = "payments.tasks.forwarding.forward_split_task"
WEBHOOK_DELIVERY_TASK = "payments.tasks.forwarding.webhook_delivery_task"


def publish_quietly(task_name: str, *args: int, failure_event: str, **context: Any) -> bool:
    """Publish ``task_name(*args)`` with the bounded publish retry policy. Never raises: any broker or
    transport error is logged as ``failure_event`` (with ``context``) and answered False. Callers publish
    only what PostgreSQL already holds, so a lost publish loses nothing: the reconciler finds the work."""
    try:
        app.send_task(task_name, args=args, retry=True, retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY)
    except Exception as exc:  # any broker/transport error
        log.error(failure_event, **context, error=type(exc).__name__)
        return False
    return True


def enqueue_forward(split_id: int) -> bool:
    """Publish ``forward_split_task(split_id)``. Never raises: with the broker down the publish gives up
    after the bounded retry policy and the split waits in PostgreSQL for the reconciler."""
    return publish_quietly(FORWARD_SPLIT_TASK, split_id, failure_event="forwarding.enqueue_failed", split_id=split_id)


def enqueue_webhook_delivery(delivery_id: int) -> bool:
    """Publish ``webhook_delivery_task(delivery_id)``. Never raises: with the broker down the publish gives
    up after the bounded retry policy and the row waits, ``queued``, for the reconciler's sweep."""
    return publish_quietly(
        WEBHOOK_DELIVERY_TASK, delivery_id, failure_event="webhook.publish_failed", delivery_id=delivery_id
    )
