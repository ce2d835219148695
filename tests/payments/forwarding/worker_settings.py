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
# Lightning addresses: the test process points these at its fake (tests/lnurl_support.py).
BLINK_LIGHTNING_ADDRESS_DOMAIN = env.str("BLINK_LIGHTNING_ADDRESS_DOMAIN", default=BLINK_LIGHTNING_ADDRESS_DOMAIN)  # noqa: F405
BLINK_LIGHTNING_DOMAINS = env.list("BLINK_LIGHTNING_DOMAINS", default=BLINK_LIGHTNING_DOMAINS)  # noqa: F405
LNURL_ALLOW_HTTP_HOSTS = env.list("LNURL_ALLOW_HTTP_HOSTS", default=LNURL_ALLOW_HTTP_HOSTS)  # noqa: F405
# Merchants' webhook receivers the test process runs on loopback (tests/webhook_receiver.py).
MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = env.list("MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS", default=[])
