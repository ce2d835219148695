"""Invoice endpoints: create (POST /invoices), history (GET /invoices), status (GET /invoices/{hash})
and cancel (POST /invoices/{hash}/cancel); the QR code is ``invoice_qr``, "check now" is ``check``.
One APIView per operation; ``InvoiceCollectionApi`` only puts create and history on the same URL.
The status poll is served by ``status_fast`` in front of ``InvoiceDetailApi``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors, store
from payments.api import schema as _schema  # noqa: F401  (registers the auth scheme)
from payments.api.common import MerchantApiView
from payments.api.create_steps import INCLUDE_QR_SVG, create_answer, merchant_and_terminal
from payments.api.errors import not_found
from payments.api.examples import (
    COMMON_ERRORS,
    ERR_400,
    ERR_404,
    ERR_409_CANCEL,
    ERR_409_IN_PROGRESS,
    ERR_413,
    ERR_422,
    ERR_429_CREATE,
    ERR_502,
    ERR_503,
    INVOICE_CREATE_EXAMPLES,
    STATUS_RESPONSE,
    idempotency_key_header,
)
from payments.api.principal import request_merchant_id
from payments.api.status_payload import InvoiceStatusSerializer, status_payload
from payments.models import SplitStatus
from payments.services.invoice_cancel import invoice_cancel


class InvoiceCreateApi(MerchantApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InvoiceCreateInput"

        amount_sats = serializers.IntegerField(
            required=False, help_text="Amount in whole sats. Give this or `amount_display`."
        )
        amount_display = serializers.DecimalField(
            max_digits=20,
            decimal_places=8,
            required=False,
            help_text=(
                'Amount in the display currency (send as a string, e.g. "12.50"); converted at the provider\'s price.'
            ),
        )
        currency = serializers.CharField(
            required=False, max_length=10, help_text="Display currency; defaults to the merchant's."
        )
        tip_percent = serializers.DecimalField(
            max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100), required=False,
            help_text="Tip as a percent of the amount (0-100). Give at most one of `tip_percent` / `tip_sats`.",
        )  # fmt: skip
        tip_sats = serializers.IntegerField(required=False, min_value=0, help_text="Tip in whole sats.")
        staff_id = serializers.IntegerField(required=False, help_text="One staff member receives the tip.")
        split_profile_id = serializers.IntegerField(required=False, help_text="A team shares the tip by weight.")
        memo = serializers.CharField(
            required=False, allow_blank=True, default="", trim_whitespace=False,
            help_text="Shown in the customer's wallet; at most 639 bytes of UTF-8.",
        )  # fmt: skip

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            return attrs

    class QuerySerializer(serializers.Serializer):
        class Meta:
            ref_name = "InvoiceCreateQuery"

        include = serializers.MultipleChoiceField(
            choices=[INCLUDE_QR_SVG], required=False, allow_empty=False,
            help_text="`qr_svg`: also return the QR code inline (costs the server ~20 ms per create).",
        )  # fmt: skip

    class OutputSerializer(InvoiceStatusSerializer):
        class Meta:
            ref_name = "InvoiceCreateOutput"

        payment_request = serializers.CharField(help_text="BOLT11 invoice for the customer's wallet.")
        qr_svg_url = serializers.CharField(
            help_text=(
                "Path of this invoice's QR code as `image/svg+xml` (`GET`, same API key): "
                "`/api/v1/invoices/{payment_hash}/qr.svg`."
            )
        )
        qr_svg = serializers.CharField(
            required=False,
            help_text=(
                "Only with `?include=qr_svg`: the same QR code as an inline `<svg>` element, ready to insert "
                "into a page."
            ),
        )
        sats_per_unit = serializers.CharField(
            allow_null=True, help_text="Conversion rate used: sats per one unit of display_currency."
        )

    @extend_schema(
        operation_id="invoices_create",
        summary="Create a tipped invoice",
        description=(
            "Creates a Lightning invoice for amount + tip on the platform wallet and records how it will be "
            "split. The amount is given either in sats or in the display currency. The answer carries the "
            "bolt11 (`payment_request`) and `qr_svg_url`, where the QR code is rendered on request; "
            "`?include=qr_svg` puts the SVG inline instead of a second request. Send an "
            "`Idempotency-Key` header to make retries safe: the same key and body replay the first response "
            "(header `Idempotent-Replayed: true`); the same key with a different body is a 422."
        ),
        parameters=[
            idempotency_key_header("sale"),
            OpenApiParameter(
                "include",
                str,
                OpenApiParameter.QUERY,
                required=False,
                enum=[INCLUDE_QR_SVG],
                description="`qr_svg`: also return the QR code inline as `qr_svg`. Any other value is a 400.",
            ),
        ],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            400: ERR_400,
            **COMMON_ERRORS,
            409: ERR_409_IN_PROGRESS,
            413: ERR_413,
            422: ERR_422,
            429: ERR_429_CREATE,
            502: ERR_502,
            503: ERR_503,
        },
        examples=INVOICE_CREATE_EXAMPLES,
        tags=["invoices"],
    )
    def post(self, request: Request) -> Response:
        input_serializer = InvoiceCreateApi.InputSerializer(data=request.data)
        errors = {} if input_serializer.is_valid() else dict(input_serializer.errors)
        include_qr = False
        if "include" in request.query_params:  # the common create sends no query: skip the serializer
            query = InvoiceCreateApi.QuerySerializer(data=request.query_params)
            if query.is_valid():
                include_qr = INCLUDE_QR_SVG in query.validated_data.get("include", ())
            else:
                errors.update(query.errors)
        if errors:  # every bad input at once, before anything is claimed or written
            raise serializers.ValidationError(errors)
        data = input_serializer.validated_data
        merchant, terminal = merchant_and_terminal(request)
        body, code, headers = create_answer(
            merchant=merchant,
            terminal=terminal,
            data=data,
            idempotency_key=request.headers.get("Idempotency-Key"),
            path=request.path,
            request_body=request.data,
            include_qr=include_qr,
        )
        return Response(body, status=code, headers=headers)


class InvoicePagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        # DRF answers a garbled cursor with 404, which reads as "no such list"; it is a bad parameter.
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from exc


class InvoiceListApi(MerchantApiView):
    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InvoiceListFilter"

        status = serializers.ChoiceField(choices=SplitStatus.choices, required=False)
        created_from = serializers.DateTimeField(required=False, help_text="Inclusive (ISO 8601).")
        created_to = serializers.DateTimeField(required=False, help_text="Exclusive (ISO 8601).")
        staff_id = serializers.IntegerField(required=False, help_text="Invoices whose tip went to this staff member.")
        # Read by the paginator, validated here so a bad value is a 400 instead of silently ignored.
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=InvoicePagination.max_page_size)
        cursor = serializers.CharField(required=False, max_length=500)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            # Query strings treat "?status=" as "not given"; a blank filter is a client bug, so say so.
            blank = [str(name) for name, value in self.initial_data.items() if name in self.fields and value == ""]
            if blank:
                raise serializers.ValidationError({name: ["Must not be blank."] for name in blank})
            start, end = attrs.get("created_from"), attrs.get("created_to")
            if start and end and start >= end:
                raise serializers.ValidationError({"created_to": ["Must be after created_from."]})
            return attrs

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "InvoiceListOutput"

        next = serializers.URLField(allow_null=True, help_text="Next (older) page, or null.")
        previous = serializers.URLField(allow_null=True, help_text="Previous (newer) page, or null.")
        results = InvoiceStatusSerializer(many=True)

    @extend_schema(
        operation_id="invoices_list",
        summary="Invoice history",
        description="The merchant's invoices, newest first, with cursor pagination (`cursor`, `page_size` ≤ 200).",
        parameters=[
            FilterSerializer,
            OpenApiParameter(
                "cursor", str, OpenApiParameter.QUERY, required=False, description="From `next`/`previous`."
            ),
            OpenApiParameter(
                "page_size", int, OpenApiParameter.QUERY, required=False, description="1-200, default 50."
            ),
        ],
        responses={200: OutputSerializer, 400: ERR_400, **COMMON_ERRORS},
        tags=["invoices"],
    )
    def get(self, request: Request) -> Response:
        filters = InvoiceListApi.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        query = {k: v for k, v in filters.validated_data.items() if k not in ("page_size", "cursor")}
        qs = selectors.split_list(merchant_id=merchant_id, **query)
        paginator = InvoicePagination()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        results = [status_payload(store.snapshot(split)) for split in page]
        payload = {"next": paginator.get_next_link(), "previous": paginator.get_previous_link(), "results": results}
        return Response(InvoiceListApi.OutputSerializer(payload).data)


# The two bases' nested serializers share names; each view refers to its own by class name.
class InvoiceCollectionApi(InvoiceListApi, InvoiceCreateApi):  # type: ignore[misc]
    """GET (history) and POST (create) on ``/invoices``: two operations, one URL."""


class InvoiceDetailApi(MerchantApiView):
    @extend_schema(
        operation_id="invoices_retrieve",
        summary="Invoice status (poll)",
        description=(
            "For a terminal polling about once a second. Served from Redis while the invoice is active "
            "(no database query), from PostgreSQL otherwise. `Cache-Control: no-store, private`."
        ),
        responses={
            200: STATUS_RESPONSE,
            404: ERR_404,
            **COMMON_ERRORS,
        },
        tags=["invoices"],
    )
    def get(self, request: Request, payment_hash: str) -> Response:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        document = selectors.split_status_document(merchant_id=merchant_id, payment_hash=payment_hash)
        if document is None:
            raise not_found()
        return Response(InvoiceStatusSerializer(status_payload(document)).data)


class InvoiceCancelApi(MerchantApiView):
    @extend_schema(
        operation_id="invoices_cancel",
        summary="Cancel an abandoned sale",
        description=(
            "Cancels the invoice at the provider when possible and marks it cancelled. Cancelling a "
            "cancelled invoice answers 200 again. A payment that still arrives later is recorded and forwarded."
        ),
        request=None,
        responses={200: STATUS_RESPONSE, 404: ERR_404, 409: ERR_409_CANCEL, **COMMON_ERRORS},
        tags=["invoices"],
    )
    def post(self, request: Request, payment_hash: str) -> Response:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        split = selectors.split_get_for_merchant(merchant_id=merchant_id, payment_hash=payment_hash)
        if split is None:
            raise not_found()
        split = invoice_cancel(split=split)
        return Response(InvoiceStatusSerializer(status_payload(store.snapshot(split))).data)
