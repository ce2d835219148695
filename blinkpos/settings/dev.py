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
