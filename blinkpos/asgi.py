"""ASGI entry point. Without DJANGO_SETTINGS_MODULE it runs the production settings, which refuse to
boot without their secrets.

Django's handler, except that ordinary requests run on reused threads (blinkpos/asgi_threads.py):
``WEB_THREADS`` per process."""

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.production")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from blinkpos.asgi_threads import ReusedThreadsASGIHandler  # noqa: E402 - needs the settings loaded

application = ReusedThreadsASGIHandler(threads=settings.WEB_THREADS)
