"""Celery tasks. Each task takes ids only, calls one service and classifies errors; business decisions
live in ``payments.services``. Split by concern: ``forwarding`` (the money path), ``maintenance``
(beat jobs) ``books`` (the daily reconciliation with Blink's ledger), ``refunds`` and ``merchant_webhooks``
(outgoing webhooks to merchants' systems)."""

from payments.tasks.books import *  # noqa: F403
from payments.tasks.forwarding import *  # noqa: F403
from payments.tasks.maintenance import *  # noqa: F403
from payments.tasks.merchant_webhooks import *  # noqa: F403
from payments.tasks.refunds import *  # noqa: F403
