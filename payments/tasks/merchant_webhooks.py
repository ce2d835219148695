"""Merchants' outgoing webhooks: one attempt of a stored message, and the beat's sweep (queue
``webhooks_out``: a slow or dead receiver only slows this queue, never forwarding).

Not acks_late and no Celery retries: the retry schedule lives in the message row, and the sweep
publishes whatever is due, so a lost or killed task loses nothing (a lapsed claim is given back).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

__all__ = ["merchant_webhook_send_task", "merchant_webhooks_sweep_task"]


# Hard limit above the send's own whole-fetch timeout, below the claim's 60 s lease.
@shared_task(name="payments.tasks.merchant_webhooks.merchant_webhook_send_task", soft_time_limit=40, time_limit=50)
def merchant_webhook_send_task(message_id: int) -> str:
    from payments.services.webhook_delivery import message_deliver

    return message_deliver(message_id=message_id)


@shared_task(name="payments.tasks.merchant_webhooks.merchant_webhooks_sweep_task", soft_time_limit=20, time_limit=30)
def merchant_webhooks_sweep_task() -> dict[str, Any]:
    from payments.services.webhook_delivery import messages_sweep

    return messages_sweep()
