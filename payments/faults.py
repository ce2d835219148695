"""Fault points: places in the money path where a test can kill the process on purpose.

``fault_point("before_send")`` does nothing unless BOTH ``settings.FAULT_POINTS_ENABLED`` is true
(only ``blinkpos.settings.test`` sets it) AND the environment variable ``BLINKPOS_FAULT`` names this
point. Then the process SIGKILLs itself: no ``finally`` blocks, no Celery ack, no rollback hooks —
exactly what a power cut or an OOM kill does to a worker mid-forward.
"""

from __future__ import annotations

import os
import signal

from django.conf import settings

FAULT_ENV = "BLINKPOS_FAULT"


def fault_point(name: str) -> None:
    if not getattr(settings, "FAULT_POINTS_ENABLED", False):
        return
    if os.environ.get(FAULT_ENV) != name:
        return
    os.kill(os.getpid(), signal.SIGKILL)
