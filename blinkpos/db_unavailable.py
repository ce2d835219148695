"""A PostgreSQL restart, a failover or an exhausted pool is a temporary outage, not a bug: every view
answers it with a 503 and ``Retry-After``, never a 500.

The DRF views already do (``payments.api.errors.exception_handler``). This middleware covers the plain
Django views the same way: Blink's webhook (``/webhooks/blink``: Svix redelivers either way, but a 500
reads as our bug in its dashboard and in our alerts), the LNURL callbacks wallets call, and the
merchant's pages. A JSON client gets the API's error body; a browser a short page. Nothing was
committed: the failed statement's transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from blinkpos.logging import get_logger
from payments.api.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_MESSAGE,
    error_body,
)

log = get_logger(__name__)

# Answered as JSON: the machine-facing paths (the API, Blink's webhooks, LNURL endpoints).
JSON_PREFIXES = ("/api/", "/webhooks/", "/lnurlp/", "/.well-known/")
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title>'
    "</head><body><h1>Temporarily unavailable</h1><p>BlinkPOS cannot reach its database for a moment. "
    "Nothing was changed. Please retry in a few seconds.</p></body></html>"
)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None  # anything else is a bug: Django's 500 handler logs it
        log.warning("web.database_unavailable", path=request.path[:200], error=type(exception).__name__)
        wants_json = request.path.startswith(JSON_PREFIXES) or "application/json" in request.headers.get("Accept", "")
        response: HttpResponse
        if wants_json:
            response = JsonResponse(error_body("service_unavailable", DATABASE_UNAVAILABLE_MESSAGE), status=503)
        else:
            response = HttpResponse(PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
