"""Production settings: refuse to boot without the secrets, and never with DEBUG on a live wallet."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from blinkpos.settings.base import *  # noqa: F403
from blinkpos.settings.base import env

_REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")
_missing = [name for name in _REQUIRED if not os.environ.get(name)]
if _missing:
    raise ImproperlyConfigured(f"Missing required environment variable(s): {', '.join(_missing)}")

SECRET_KEY = env.str("SECRET_KEY")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
DEBUG = env.bool("DEBUG", default=False)
if DEBUG and env.str("BLINK_API_KEY", default=""):
    raise ImproperlyConfigured("DEBUG must be off when BLINK_API_KEY (a live wallet) is configured.")

# Plain-http LNURL hosts bypass the private-address refusal: a test and demo convenience only.
if LNURL_ALLOW_HTTP_HOSTS:  # noqa: F405
    raise ImproperlyConfigured("LNURL_ALLOW_HTTP_HOSTS must be empty in production (https only, no private hosts).")
if MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS:  # noqa: F405
    raise ImproperlyConfigured(
        "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS must be empty in production (https only, no private hosts)."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
ADMIN_OTP_REQUIRED = env.bool("ADMIN_OTP_REQUIRED", default=True)
