"""Settings for the Celery worker processes the forwarding tests start: the test settings, with the
wallet pointed (by environment) at the fake Blink the test process runs. ``blinkpos.settings.test``
pins BLINK_API_URL to a dead address on purpose, so a worker needs this one module more."""

from __future__ import annotations

from blinkpos.settings.test import *  # noqa: F403
from blinkpos.settings.test import env

BLINK_API_URL = env.str("BLINK_API_URL")
BLINK_API_KEY = env.str("BLINK_API_KEY")
BLINK_WALLET_ID = env.str("BLINK_WALLET_ID")
BLINK_READ_TIMEOUT = 2.0
BLINK_CONNECT_TIMEOUT = 1.0
