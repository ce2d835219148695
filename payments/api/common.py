"""What every POS API view shares: the merchant permission, the JSON parser with a size limit and the
base view (permissions, throttles, no caching). Who is asking: ``principal``; the documented error
responses: ``examples``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions, permissions, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api.errors import ApiError
from payments.api.principal import request_merchant_id, request_terminal_id
from payments.api.throttling import ApiRateThrottle
from payments.models import Terminal


class HasMerchant(permissions.BasePermission):
    """A terminal key, or a signed-in user who owns a merchant."""

    message = "This account has no active merchant."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.user is None or not getattr(request.user, "is_authenticated", False):
            return False
        return request_merchant_id(request) is not None


def _refuse_constant(name: str) -> str:
    # NaN/Infinity are not JSON. Pass them on as strings so the field that carried one is named in
    # the error ("A valid number is required") instead of failing the whole document.
    return name


class LimitedJSONParser(JSONParser):
    """JSON with a size limit (``DATA_UPLOAD_MAX_MEMORY_SIZE``; DRF reads the raw stream and does not
    apply Django's limit), numbers with a fraction as ``Decimal`` (never a float)."""

    def parse(self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ApiError(
                code="request_too_large",
                message=f"The request body is larger than {limit} bytes.",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        try:
            return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError("Malformed JSON.") from exc


def touch_terminal(terminal_id: int) -> None:
    """Record a terminal's last use; callers do it only when they claimed the once-a-minute marker."""
    Terminal.objects.filter(pk=terminal_id).update(last_used_at=timezone.now())


class MerchantApiView(APIView):
    """Base for every POS endpoint: merchant-scoped, throttled per terminal and per merchant, never
    cached by a shared cache (answers hold invoices and live statuses)."""

    permission_classes = [HasMerchant]
    throttle_classes = [ApiRateThrottle]
    parser_classes = [LimitedJSONParser]

    def check_throttles(self, request: Request) -> None:
        throttle = ApiRateThrottle()
        if not throttle.allow_request(request, self):
            self.throttled(request, throttle.wait() or 1.0)
        # The throttle's round trip also claimed the once-a-minute "last used" marker: one UPDATE a
        # minute at most per terminal, so polls stay write-free.
        terminal_id = request_terminal_id(request)
        if terminal_id is not None and throttle.touch_due:
            touch_terminal(terminal_id)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store, private"
        return response
