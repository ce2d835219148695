"""The Celery queues and which task goes to which (settings ``CELERY_TASK_ROUTES``).

Money work must never wait behind background work: forwarding (and the payment checks that lead to
it) has its own queue, Blink's incoming webhooks theirs (they decide that a payment arrived), the
merchants' outgoing webhooks theirs (a slow or dead receiver only slows its own queue), and
everything periodic shares ``maintenance``. ``make run`` and docker-compose start a worker per group
(``blinkpos.stack.QUEUE_WORKERS``); a worker started without ``-Q`` consumes every queue, which is
what a one-process development or test worker wants.
"""

from __future__ import annotations

FORWARDING = "forwarding"
WEBHOOKS_IN = "webhooks_in"
WEBHOOKS_OUT = "webhooks_out"
MAINTENANCE = "maintenance"
ALL_QUEUES = (FORWARDING, WEBHOOKS_IN, WEBHOOKS_OUT, MAINTENANCE)

# Exact names first; Celery then tries the glob patterns in this order.
TASK_ROUTES: dict[str, dict[str, str]] = {
    "payments.tasks.forwarding.forward_split_task": {"queue": FORWARDING},
    "payments.tasks.forwarding.payment_check_task": {"queue": FORWARDING},
    "payments.tasks.forwarding.webhook_delivery_task": {"queue": WEBHOOKS_IN},
    "payments.tasks.forwarding.reconcile_task": {"queue": MAINTENANCE},
    "payments.tasks.refunds.refund_pay_task": {"queue": FORWARDING},
    "payments.tasks.refunds.pool_payout_task": {"queue": FORWARDING},
    "payments.tasks.refunds.refunds_sweep_task": {"queue": MAINTENANCE},
    "payments.tasks.maintenance.*": {"queue": MAINTENANCE},
    "payments.tasks.books.*": {"queue": MAINTENANCE},
    "analytics.tasks.*": {"queue": MAINTENANCE},
}


def queue_names() -> list[str]:
    """Every queue a task can land in: the declared ones, the default and any routed elsewhere."""
    from django.conf import settings  # settings import this module

    names = set(ALL_QUEUES) | {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in (settings.CELERY_TASK_ROUTES or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)
