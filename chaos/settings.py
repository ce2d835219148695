"""Settings for the chaos soak's processes: the ordinary settings (everything from the environment the
soak sets: its own PostgreSQL, Redis and fake Blink) plus fault points, so the fault driver can restart
a worker that SIGKILLs itself right before or right after a send (``payments.faults``)."""

from __future__ import annotations

from blinkpos.settings.base import *  # noqa: F403

FAULT_POINTS_ENABLED = True
