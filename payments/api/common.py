"""What every POS API view shares: who the merchant is, the JSON parser with a size limit, the base
view (permissions, throttles, no caching) and the documented error responses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import IO, Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from payments.api.authentication import TerminalPrincipal
from payments.api.errors import ApiError
from payments.api.throttling import ApiRateThrottle
from payments.models import Merchant, Terminal

_MERCHANT_ATTR = "_blinkpos_merchant_id"


def request_merchant_id(request: Request) -> int | None:
    """The merchant behind the request: a terminal's merchant, or the signed-in user's merchant.
    Terminals cost no query (the id travels in the cached auth record)."""
    user = request.user
    if isinstance(user, TerminalPrincipal):
        return user.merchant_id
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    cached: int | None = getattr(request, _MERCHANT_ATTR, 0)
    if cached != 0:
        return cached
    merchant_id = Merchant.objects.filter(user_id=user.pk, is_active=True).values_list("pk", flat=True).first()
    setattr(request, _MERCHANT_ATTR, merchant_id)
    return merchant_id


def request_merchant(request: Request) -> Merchant:
    merchant_id = request_merchant_id(request)
    merchant = Merchant.objects.filter(pk=merchant_id, is_active=True).first() if merchant_id else None
    if merchant is None:
        raise exceptions.PermissionDenied("This account has no active merchant.")
    return merchant


def request_terminal_id(request: Request) -> int | None:
    user = request.user
    return user.terminal_id if isinstance(user, TerminalPrincipal) else None


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


# --- documentation of the one error format --------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `invalid_input`.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    # The metaclass moves declared fields off the class, so this does not shadow Serializer.fields.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per-field messages, keyed by the input field's name (empty when not about a field).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def _error(
    status_code: int, description: str, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                code,
                value={"error": {"code": code, "message": message, "fields": fields or {}}},
                status_codes=[str(status_code)],
                response_only=True,
            )
        ],
    )


ERR_400 = _error(
    400,
    "Invalid input; `fields` names every offending field. Nothing was created.",
    "invalid_input",
    "The request has invalid fields.",
    {"amount_sats": ["Must be greater than 0."]},
)
ERR_401 = _error(
    401, "Missing, wrong or revoked API key.", "authentication_failed", "Invalid or revoked terminal API key."
)
ERR_403 = _error(
    403, "Signed in, but the account has no merchant.", "permission_denied", "This account has no active merchant."
)
ERR_404 = _error(
    404, "No such invoice for this merchant (another merchant's invoice looks the same).", "not_found", "Not found."
)
ERR_409_CANCEL = _error(
    409,
    "The invoice is no longer pending (e.g. already paid).",
    "not_cancellable",
    "An invoice in status 'paid' cannot be cancelled.",
)
ERR_409_IN_PROGRESS = _error(
    409,
    "A request with this Idempotency-Key is still running; retry after `Retry-After`.",
    "idempotency_in_progress",
    "A request with this Idempotency-Key is still being processed.",
)
ERR_413 = _error(
    413,
    "The JSON body is larger than the limit (64 KiB by default).",
    "request_too_large",
    "The request body is larger than 65536 bytes.",
)
ERR_422 = _error(
    422,
    "The Idempotency-Key was used before with a different body.",
    "idempotency_key_reused",
    "This Idempotency-Key was used with a different request body.",
)
ERR_429 = _error(
    429,
    "Too many requests for this terminal or merchant; see `Retry-After`.",
    "rate_limited",
    "Request was throttled. Expected available in 12 seconds.",
)
ERR_502 = _error(
    502,
    "The wallet provider refused the request (configuration problem).",
    "provider_error",
    "The wallet provider could not create the invoice.",
)
ERR_503 = _error(
    503,
    "The wallet provider is busy or unreachable; nothing was created. Retry after `Retry-After`.",
    "provider_unavailable",
    "The Lightning wallet provider is temporarily unavailable; try again shortly.",
)
COMMON_ERRORS = {401: ERR_401, 403: ERR_403, 429: ERR_429}
