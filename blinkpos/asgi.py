"""ASGI entry point. Without DJANGO_SETTINGS_MODULE it runs the production settings, which refuse to
boot without their secrets."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.production")
application = get_asgi_application()
