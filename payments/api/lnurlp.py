"""Pay codes' LNURL-pay endpoints (LUD-06, LUD-16), public: a wallet reads the payRequest, then asks
the callback for an invoice of the amount its user chose (docs/ARCHITECTURE.md, Pay codes and tips
after payment). Every refusal has LUD-06's shape ``{"status": "ERROR", "reason": ...}`` (the reason
names the field) with a 4xx, or a 5xx only for a provider outage; nothing is written then.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from blinkpos.errors import ApplicationError, user_error_fields
from blinkpos.logging import get_logger
from payments.api.public_limits import public_rate_wait
from payments.lnurl.server import AmountRefused, callback_amount_sats, lud_error, pay_request
from payments.models import PayCode
from payments.paycode_links import paycode_callback_url, paycode_metadata, public_host

log = get_logger(__name__)

UNKNOWN_CODE = "username: no such pay code."
_LUD_ERROR = inline_serializer(
    "LnurlError", {"status": serializers.CharField(default="ERROR"), "reason": serializers.CharField()}
)
_PAY_REQUEST = inline_serializer(
    "LnurlPayRequest",
    {
        "tag": serializers.CharField(default="payRequest"),
        "callback": serializers.URLField(),
        "minSendable": serializers.IntegerField(help_text="msat"),
        "maxSendable": serializers.IntegerField(help_text="msat"),
        "metadata": serializers.CharField(help_text="JSON: text/plain and text/identifier"),
        "commentAllowed": serializers.IntegerField(),
    },
)
_INVOICE = inline_serializer(
    "LnurlPayInvoice", {"pr": serializers.CharField(help_text="BOLT11"), "routes": serializers.ListField()}
)


def _error(reason: str, status: int, retry_after: int | None = None) -> Response:
    response = Response(lud_error(reason), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _code_by_id(code_id: str) -> PayCode | None:
    if not (code_id.isascii() and code_id.isdigit()) or len(code_id) > 18:  # within BIGINT
        return None
    return _active_code(pk=int(code_id))


def _active_code(**lookup: Any) -> PayCode | None:
    return (
        PayCode.objects.select_related("merchant", "staff", "split_profile")
        .filter(is_active=True, merchant__is_active=True, **lookup)
        .first()
    )


class _PublicLnurlView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # LUD-01: browser wallets call these cross-origin; the answers are public and carry no cookie.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        return response

    def _pay_request(self, request: Request, code: PayCode | None) -> Response:
        if code is None:
            return _error(UNKNOWN_CODE, 404)
        where = public_host(request)
        return Response(
            pay_request(
                callback=paycode_callback_url(code, where),
                min_sats=code.min_sendable_sats,
                max_sats=code.max_sendable_sats,
                metadata=paycode_metadata(code, where),
            )
        )


class LightningAddressApi(_PublicLnurlView):
    @extend_schema(
        operation_id="lnurlp_address",
        summary="LUD-16: the payRequest behind name@host",
        responses={200: _PAY_REQUEST, 400: _LUD_ERROR, 404: _LUD_ERROR},
        tags=["pay codes"],
    )
    def get(self, request: Request, username: str) -> Response:
        if len(username) > 64:
            return _error("username: at most 64 characters.", 400)
        return self._pay_request(request, _active_code(username__iexact=username))


class PayCodeApi(_PublicLnurlView):
    @extend_schema(
        operation_id="lnurlp_code",
        summary="LUD-06: a pay code's payRequest (what the poster's LNURL points to)",
        responses={200: _PAY_REQUEST, 404: _LUD_ERROR},
        tags=["pay codes"],
    )
    def get(self, request: Request, code_id: str) -> Response:
        return self._pay_request(request, _code_by_id(code_id))


class PayCodeCallbackApi(_PublicLnurlView):
    @extend_schema(
        operation_id="lnurlp_callback",
        summary="LUD-06 callback: an invoice for `amount` msat",
        parameters=[OpenApiParameter("amount", int, required=True, description="millisatoshis, whole sats")],
        responses={200: _INVOICE, 400: _LUD_ERROR, 404: _LUD_ERROR, 429: _LUD_ERROR, 503: _LUD_ERROR},
        tags=["pay codes"],
    )
    def get(self, request: Request, code_id: str) -> Response:
        from payments.services.tip_invoices import paycode_invoice_create

        code = _code_by_id(code_id)
        if code is None:
            return _error(UNKNOWN_CODE, 404)
        try:
            amount = callback_amount_sats(
                request.query_params.get("amount"), min_sats=code.min_sendable_sats, max_sats=code.max_sendable_sats
            )
        except AmountRefused as exc:
            return _error(str(exc), 400)
        wait = public_rate_wait(request, scope="paycode", target=str(code.pk))
        if wait is not None:
            return _error("Too many requests; try again shortly.", 429, retry_after=wait)
        try:
            split = paycode_invoice_create(
                pay_code=code, amount_sats=amount, metadata=paycode_metadata(code, public_host(request))
            )
        except ValidationError as exc:
            return _error(_reason(exc), 400)
        except ApplicationError as exc:
            status = exc.http_status if exc.http_status >= 400 else 503
            return _error(exc.message, status, retry_after=exc.retry_after)
        return Response({"pr": split.payment_request, "routes": []})


def _reason(exc: ValidationError) -> str:
    fields = user_error_fields(exc)
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
