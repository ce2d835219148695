"""Forwarding tasks (the money path). Ids in, one service call, error classification out.

``acks_late``: the message is acknowledged only after the task returns, so a worker killed mid-task
(OOM, deploy, SIGKILL) has its message redelivered. That is safe ONLY because every one of these
tasks is idempotent by database state (each step claims its row by status under a lock). Hard time
limits are far below the broker's visibility timeout (3600 s), or a long task would be redelivered
while still running. Whatever happens to a message, the reconciler finds the work again in PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db.utils import OperationalError

from payments.wallet.errors import WalletUnavailable

__all__ = ["forward_split_task", "payment_check_task", "reconcile_task", "webhook_delivery_task"]

# Retried automatically: only errors that say "nothing is known to have happened, try later" — the
# provider unreachable or rate limiting, PostgreSQL restarting. Everything else is a state the
# services already recorded, or a bug a retry would only repeat.
_TRANSIENT = (WalletUnavailable, OperationalError)

# The policy of every task that sends money (forward_split_task, webhook_delivery_task): acks_late +
# reject_on_worker_lost (a killed worker's message is redelivered and the idempotent forward resumes),
# the transient retries above, and the hard limit the reconciler's SENDING_STALE_SECONDS (180 s) is
# derived from.
_SENDS_MONEY: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": _TRANSIENT,
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
    "soft_time_limit": 100,
    "time_limit": 120,
}


@shared_task(
    name="payments.tasks.forwarding.forward_split_task",
    **_SENDS_MONEY,
)
def forward_split_task(split_id: int) -> str:
    from payments.services.forwarding import forward_split

    return forward_split(split_id=split_id)


# The webhook's worker half: detection for one recorded delivery, then the forward of its split in the
# same task (one hop instead of two). It sends money, so it carries forward_split_task's policy (a
# redelivered message finds the delivery final and resumes the idempotent forward).
@shared_task(
    name="payments.tasks.forwarding.webhook_delivery_task",
    **_SENDS_MONEY,
)
def webhook_delivery_task(delivery_id: int) -> str:
    from payments.services.webhooks import delivery_process

    return delivery_process(delivery_id=delivery_id)


@shared_task(
    name="payments.tasks.forwarding.payment_check_task",
    acks_late=True,
    autoretry_for=_TRANSIENT,
    retry_backoff=2,
    max_retries=3,
    soft_time_limit=25,
    time_limit=30,
)
def payment_check_task(split_id: int) -> str:
    from payments.models import PaymentSplit
    from payments.services.detection import payment_check

    split = PaymentSplit.objects.filter(pk=split_id).first()
    if split is None:
        return "missing"
    return payment_check(split=split, source="check_task")


# Not acks_late and no retries: beat runs it again in ~20 s; a lost run costs nothing.
@shared_task(name="payments.tasks.forwarding.reconcile_task", soft_time_limit=110, time_limit=120)
def reconcile_task() -> dict[str, Any]:
    from payments.services.reconcile import reconcile_once

    return reconcile_once()
