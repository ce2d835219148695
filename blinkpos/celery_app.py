"""The Celery application; configuration comes from Django settings under the CELERY_ namespace.

Without DJANGO_SETTINGS_MODULE a worker or beat runs the production settings, which refuse to boot
without their secrets. The settings are read lazily (when the worker starts), so importing the
``blinkpos`` package stays free of side effects beyond this default.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinkpos.settings.production")

# Celery's Django fix-up, except that a worker process keeps its connection pool between tasks.
app = Celery("blinkpos", fixups=["blinkpos.celery_fixup:fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
