"""WSGI entry point (for tools; the web tier serves asgi.py under uvicorn). Without
DJANGO_SETTINGS_MODULE it runs the production settings, which refuse to boot without their secrets: a
forgotten variable never serves production on a dev key."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.production")
application = get_wsgi_application()
