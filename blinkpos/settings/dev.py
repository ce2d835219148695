"""Settings for a developer machine and ``make run``: the base settings with DEBUG on and the demo's
shortcuts. Every entry point that is not production names these (or the test settings) explicitly."""

from __future__ import annotations

from blinkpos.settings.base import *  # noqa: F403
from blinkpos.settings.base import env

DEBUG = env.bool("DEBUG", default=True)
# The demo signs in to the admin with a password alone; enrolling an authenticator still works.
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=False)
# Static files straight from the apps, so a fresh clone needs no collectstatic.
WHITENOISE_USE_FINDERS = True
# ``make run``: the fake Blink's outside LNURL host (blinkpos/stack.py, two ports above the fake) is
# the one host Lightning addresses may be fetched from over plain http; the demo's "Dave" lives there.
LNURL_ALLOW_HTTP_HOSTS = env.list("LNURL_ALLOW_HTTP_HOSTS", default=["127.0.0.1:8091"])
DEMO_OUTSIDE_LIGHTNING_ADDRESS = env.str("DEMO_OUTSIDE_LIGHTNING_ADDRESS", default="dave@127.0.0.1:8091")
# Staff sign-in links are printed by the web process instead of mailed (the demo has no mail server).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
