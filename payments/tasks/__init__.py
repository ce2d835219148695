"""Celery tasks. Each task takes ids only, calls one service and classifies errors; business decisions
live in ``payments.services``. Split by concern: ``forwarding`` (the money path) and ``maintenance``
(beat jobs)."""

from payments.tasks.forwarding import *  # noqa: F403
from payments.tasks.maintenance import *  # noqa: F403
