"""URL map: health, the POS API, the webhook, the admin back office and the merchant dashboard."""

import os

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.cache import patch_cache_control
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from blinkpos import health
from payments.api.lnurlp import LightningAddressApi, PayCodeApi, PayCodeCallbackApi
from payments.api.webhook import blink_webhook


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on their own; send them to the (hashed) static icon."""
    response = HttpResponseRedirect(static("blinkpos/favicon.svg"))
    patch_cache_control(response, public=True, max_age=24 * 60 * 60)
    return response


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("health", health.health, name="health"),
    path("health/db", health.health_db, name="health-db"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("payments.api.urls")),
    path("webhooks/blink", blink_webhook, name="webhook-blink"),
    path("webhooks/blink/<str:token>", blink_webhook, name="webhook-blink-account"),
    # Pay codes' LNURL-pay (payments/api/lnurlp.py): public, for any Lightning wallet. str ids: a
    # malformed one gets the LUD-06 JSON 404, not Django's HTML page.
    path(".well-known/lnurlp/<str:username>", LightningAddressApi.as_view(), name="lnurlp-address"),
    path("lnurlp/<str:code_id>", PayCodeApi.as_view(), name="lnurlp-code"),
    path("lnurlp/<str:code_id>/callback", PayCodeCallbackApi.as_view(), name="lnurlp-callback"),
    path("", include("analytics.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
    # The merchant dashboard and web POS (login at /login/); last, since it owns the site root.
    path("", include("dashboard.urls")),
]

# The benchmark suite's floor views (bench/floor_views.py), only when the bench starts the server.
if os.environ.get("BLINKPOS_BENCH_FLOORS") == "1":
    urlpatterns.append(path("bench/floor/", include("bench.floor_views")))
