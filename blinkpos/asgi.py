"""ASGI entry point. Without DJANGO_SETTINGS_MODULE it runs the production settings, which refuse to
boot without their secrets.

Django's handler, except that ordinary requests run on reused threads (blinkpos/asgi_threads.py):
``WEB_THREADS`` per process. The URLconf (every view module) and its reverse map are loaded here, when
a web worker starts, not by the first request it serves: otherwise a cashier's first invoice after a
restart waits for those imports (seconds on a busy host). The default Blink client is built here for the
same reason."""

import os

import django
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.production")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from django.urls import get_resolver  # noqa: E402 - needs the settings loaded

from blinkpos.asgi_threads import ReusedThreadsASGIHandler  # noqa: E402 - needs the settings loaded
from payments.wallet.provider import warm_default_provider  # noqa: E402 - needs the settings loaded

get_resolver().reverse_dict  # noqa: B018 - imports every view and builds the reverse map now
warm_default_provider()  # the Blink client too: the first create after a restart does not build it
application = ReusedThreadsASGIHandler(threads=settings.WEB_THREADS)
