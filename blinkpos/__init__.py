"""BlinkPOS project package: settings, URLs, the Celery app and the WSGI/ASGI entry points."""

import os

# Importing the Celery app sets a default DJANGO_SETTINGS_MODULE in os.environ. Tools that only start
# other programs (blinkpos.devservices) must not pass that default on: a child such as pytest would
# take it over its own configuration. They read what the caller really set from here.
INHERITED_DJANGO_SETTINGS_MODULE = os.environ.get("DJANGO_SETTINGS_MODULE")

from blinkpos.celery_app import app as celery_app  # noqa: E402

__all__ = ["INHERITED_DJANGO_SETTINGS_MODULE", "celery_app"]
