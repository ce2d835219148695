"""Test settings: the same real PostgreSQL and Redis, faster hashing, no real wallet."""

from __future__ import annotations

import base64
import secrets

from blinkpos.settings.base import *  # noqa: F403
from blinkpos.settings.base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BLINK_API_KEY = env.str("TEST_BLINK_API_KEY", default="blink_testplatformkey000000000000")
BLINK_API_URL = "http://127.0.0.1:1/graphql"  # replaced by the fake Blink fixture; never the internet
# A fresh Svix secret per test run, so none is committed; tests sign with settings.BLINK_WEBHOOK_SECRETS[0].
# Tests create far more than Blink's 60 invoices a minute; a test of the per-account limit lowers this.
BLINK_INVOICE_RATE_POINTS = 1_000_000
BLINK_WEBHOOK_SECRETS = ["whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()]
# Lightning addresses of bare Blink usernames point nowhere reachable until a test points them at the
# fake Blink (tests/lnurl_support.py); never at the real blink.sv.
BLINK_LIGHTNING_ADDRESS_DOMAIN = "127.0.0.1:1"
LNURL_ALLOW_HTTP_HOSTS = ["127.0.0.1:1"]
# Fault points (SIGKILL before/after a send) exist only when a test turns them on.
FAULT_POINTS_ENABLED = True
LOG_FORMAT = "console"
# Tests never depend on a prior collectstatic: plain names, files found in the apps on each request.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
