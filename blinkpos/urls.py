"""URL map: health, the POS API, the webhook, the admin back office and the merchant dashboard."""

import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from blinkpos import health
from payments.api.webhook import blink_webhook

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/db", health.health_db, name="health-db"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("payments.api.urls")),
    path("webhooks/blink", blink_webhook, name="webhook-blink"),
    path("", include("analytics.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    # The merchant dashboard and web POS (login at /login/); last, since it owns the site root.
    path("", include("dashboard.urls")),
]

# The benchmark suite's floor views (bench/floor_views.py), only when the bench starts the server.
if os.environ.get("BLINKPOS_BENCH_FLOORS") == "1":
    urlpatterns.append(path("bench/floor/", include("bench.floor_views")))
