"""Invoice endpoints: create (POST /invoices), history (GET /invoices), status (GET /invoices/{hash}),
its QR code (GET /invoices/{hash}/qr.svg) and cancel (POST /invoices/{hash}/cancel). One APIView per
operation; ``InvoiceCollectionApi`` only puts create and history on the same URL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors, store
from payments.api import schema as _schema  # noqa: F401  (registers the auth scheme)
from payments.api.common import (
    COMMON_ERRORS,
    ERR_400,
    ERR_404,
    ERR_409_CANCEL,
    ERR_409_IN_PROGRESS,
    ERR_413,
    ERR_422,
    ERR_502,
    ERR_503,
    MerchantApiView,
    request_merchant,
    request_merchant_id,
    request_terminal_id,
)
from payments.api.errors import ApiError
from payments.models import Merchant, PaymentSplit, SplitStatus, Terminal
from payments.qr import invoice_qr_svg, qr_etag
from payments.services import idempotency
from payments.services.invoices import (
    UNKNOWN_PROFILE,
    UNKNOWN_STAFF,
    InvoiceNotCancellable,
    invoice_cancel,
    invoice_create,
)

# Display amounts are stored with 8 decimals; shown with the currency's own (lossless: amounts are
# validated/rounded to those digits when created).
_CURRENCY_PLACES = {"BTC": 8}
_DEFAULT_PLACES = 2


def format_display(value: str | Decimal | None, currency: str) -> str | None:
    if value is None:
        return None
    amount = Decimal(value)
    places = Decimal(1).scaleb(-_CURRENCY_PLACES.get(currency, _DEFAULT_PLACES))
    rounded = amount.quantize(places)
    return str(rounded if rounded == amount else amount.normalize())


def status_payload(document: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a hot-store document (``store.snapshot``): snake_case, display amounts in the
    currency's digits. Pure: the hot path builds it without touching PostgreSQL."""
    currency = document["displayCurrency"]
    base_d, tip_d = document.get("baseAmountDisplay"), document.get("tipAmountDisplay")
    total_d = Decimal(base_d) + Decimal(tip_d) if base_d is not None and tip_d is not None else None
    return {
        "payment_hash": document["paymentHash"],
        "status": document["status"],
        "total_sats": document["totalAmount"],
        "base_sats": document["baseAmount"],
        "tip_sats": document["tipAmount"],
        "tip_percent": document.get("tipPercent"),
        "tip_recipient": document.get("tipRecipient") or "",
        "staff_id": document.get("staffId"),
        "split_profile_id": document.get("splitProfileId"),
        "terminal_id": document.get("terminalId"),
        "display_currency": currency,
        "base_display": format_display(base_d, currency),
        "tip_display": format_display(tip_d, currency),
        "total_display": format_display(total_d, currency),
        "memo": document.get("memo") or "",
        "created_at": document.get("createdAt"),
        "expires_at": document.get("expiresAt"),
        "paid_at": document.get("paidAt"),
        "processed_at": document.get("processedAt"),
    }


class InvoiceStatusSerializer(serializers.Serializer):
    payment_hash = serializers.CharField(help_text="Lightning payment hash (64 hex); the invoice's id.")
    status = serializers.ChoiceField(choices=SplitStatus.choices)
    total_sats = serializers.IntegerField(help_text="Sats on the invoice: base + tip.")
    base_sats = serializers.IntegerField(help_text="Sats for the merchant.")
    tip_sats = serializers.IntegerField(help_text="Sats for staff (or the merchant when no recipient).")
    tip_percent = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    tip_recipient = serializers.CharField(help_text="Staff username, `team:<profile>` or empty.")
    staff_id = serializers.IntegerField(allow_null=True)
    split_profile_id = serializers.IntegerField(allow_null=True)
    terminal_id = serializers.IntegerField(allow_null=True)
    display_currency = serializers.CharField()
    base_display = serializers.CharField(allow_null=True, help_text="Decimal string in display_currency.")
    tip_display = serializers.CharField(allow_null=True, help_text="Decimal string in display_currency.")
    total_display = serializers.CharField(allow_null=True, help_text="Decimal string in display_currency.")
    memo = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    processed_at = serializers.DateTimeField(allow_null=True)


STATUS_EXAMPLE = {
    "payment_hash": "5f1c0c8a2b0e4f6d9a7b3c2e1d0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
    "status": "pending",
    "total_sats": 11500,
    "base_sats": 10000,
    "tip_sats": 1500,
    "tip_percent": "15.00",
    "tip_recipient": "team:Floor team",
    "staff_id": None,
    "split_profile_id": 3,
    "terminal_id": 7,
    "display_currency": "USD",
    "base_display": "6.50",
    "tip_display": "0.98",
    "total_display": "7.48",
    "memo": "Table 4",
    "created_at": "2025-05-01T12:00:00+00:00",
    "expires_at": "2025-05-01T12:15:00+00:00",
    "paid_at": None,
    "processed_at": None,
}

STATUS_RESPONSE = OpenApiResponse(
    response=InvoiceStatusSerializer,
    examples=[OpenApiExample("Pending", value=STATUS_EXAMPLE, response_only=True, status_codes=["200"])],
)


# Opt-in extras of the create response (query parameter ``include``).
INCLUDE_QR_SVG = "qr_svg"


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
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Unique per sale (1-255 printable characters), e.g. a UUID.",
            ),
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
            502: ERR_502,
            503: ERR_503,
        },
        examples=[
            OpenApiExample(
                "Fiat amount, 15 % tip to a team",
                value={"amount_display": "6.50", "tip_percent": "15", "split_profile_id": 3, "memo": "Table 4"},
                request_only=True,
            ),
            OpenApiExample(
                "Sats, fixed tip to one person",
                value={"amount_sats": 10000, "tip_sats": 500, "staff_id": 12},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={
                    **STATUS_EXAMPLE,
                    "payment_request": "lnbc115u1p...",
                    "qr_svg_url": f"/api/v1/invoices/{STATUS_EXAMPLE['payment_hash']}/qr.svg",
                    "sats_per_unit": "1538.46153846",
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
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
        merchant, terminal = _merchant_and_terminal(request)
        key = request.headers.get("Idempotency-Key")
        record = None
        if key is not None:
            fingerprint = idempotency.request_fingerprint(method="POST", path=request.path, body=request.data)
            try:
                outcome = idempotency.idempotency_begin(merchant_id=merchant.pk, key=key, fingerprint=fingerprint)
            except idempotency.IdempotencyConflict as exc:
                raise ApiError(
                    code="idempotency_key_reused",
                    message="This Idempotency-Key was used with a different request body.",
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    fields={"Idempotency-Key": ["Already used with a different body."]},
                ) from exc
            except idempotency.IdempotencyInProgress as exc:
                raise ApiError(
                    code="idempotency_in_progress",
                    message="A request with this Idempotency-Key is still being processed.",
                    status_code=status.HTTP_409_CONFLICT,
                    retry_after=1,
                ) from exc
            if isinstance(outcome, idempotency.Replay):
                replayed = _presented(outcome.body, include_qr=include_qr)  # only 201s are stored
                return Response(replayed, status=outcome.status, headers={"Idempotent-Replayed": "true"})
            record = outcome
        try:
            body = self._create(merchant=merchant, terminal=terminal, data=data)
        except BaseException:
            if record is not None:
                idempotency.idempotency_abandon(record=record)
            raise
        if record is not None:
            # Stored without the inline QR: ``include`` only shapes the answer (not part of the key's
            # fingerprint), and a replay renders the QR again when that request asks for it.
            idempotency.idempotency_complete(record=record, status=status.HTTP_201_CREATED, body=body)
        return Response(
            _presented(body, include_qr=include_qr),
            status=status.HTTP_201_CREATED,
            headers={"Location": f"{request.path}/{body['payment_hash']}"},
        )

    @staticmethod
    def _create(*, merchant: Merchant, terminal: Terminal | None, data: dict[str, Any]) -> dict[str, Any]:
        merchant_id = merchant.pk
        staff = profile = shares = None
        if data.get("staff_id") is not None:
            staff = selectors.staff_get_for_merchant(merchant_id=merchant_id, staff_id=data["staff_id"])
            if staff is None:
                raise DjangoValidationError({"staff_id": [UNKNOWN_STAFF]})
        if data.get("split_profile_id") is not None:
            found = selectors.split_profile_with_shares_for_merchant(
                merchant_id=merchant_id, profile_id=data["split_profile_id"]
            )
            if found is None:
                raise DjangoValidationError({"split_profile_id": [UNKNOWN_PROFILE]})
            profile, shares = found
        split = invoice_create(
            merchant=merchant,
            terminal=terminal,
            amount_sats=data.get("amount_sats"),
            amount_display=data.get("amount_display"),
            tip_percent=data.get("tip_percent"),
            tip_sats=data.get("tip_sats"),
            staff=staff,
            split_profile=profile,
            split_profile_shares=shares,
            memo=data.get("memo", ""),
            currency=data.get("currency"),
        )
        return _created_payload(split)


def _merchant_and_terminal(request: Request) -> tuple[Merchant, Terminal | None]:
    """The merchant and (for a terminal key) the terminal: one query for a terminal, where loading them
    separately took two. Same outcomes as ``request_merchant``: an inactive merchant is a 403."""
    terminal_id = request_terminal_id(request)
    terminal = selectors.terminal_with_merchant(terminal_id=terminal_id) if terminal_id is not None else None
    if terminal is None or terminal.merchant_id != request_merchant_id(request):
        # No terminal (a signed-in user), or one that vanished or moved since its key was cached: the
        # merchant on its own; invoice_create refuses a terminal of another merchant.
        return request_merchant(request), terminal
    if not terminal.merchant.is_active:
        raise PermissionDenied("This account has no active merchant.")
    return terminal.merchant, terminal


def _created_payload(split: PaymentSplit) -> dict[str, Any]:
    """The create answer (``OutputSerializer``'s output, asserted by the tests), built from the objects
    just written without a re-read or the serializer, and without the inline QR: what the idempotency
    record keeps."""
    # Imported here: status_fast imports this module. Its status_body is InvoiceStatusSerializer's
    # output without the serializer's per-field work (~1 ms a create).
    from payments.api.status_fast import status_body

    return {
        **status_body(store.snapshot(split)),
        "payment_request": split.payment_request,
        "qr_svg_url": reverse("api-invoice-qr", args=[split.payment_hash]),
        "sats_per_unit": str(split.sats_per_unit) if split.sats_per_unit is not None else None,
    }


def _presented(body: dict[str, Any], *, include_qr: bool) -> dict[str, Any]:
    """A stored or fresh create answer as this request asked for it: the QR inline only on request. A
    body stored before ``qr_svg_url`` existed (inline QR) is brought to the same shape."""
    shown = {name: value for name, value in body.items() if name != INCLUDE_QR_SVG}
    if "qr_svg_url" not in shown:
        shown["qr_svg_url"] = reverse("api-invoice-qr", args=[body["payment_hash"]])
    if include_qr:
        shown[INCLUDE_QR_SVG] = invoice_qr_svg(body["payment_request"])
    return shown


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


def _not_found() -> ApiError:
    return ApiError(code="not_found", message="Not found.", status_code=status.HTTP_404_NOT_FOUND)


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
            raise _not_found()
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
            raise _not_found()
        try:
            split = invoice_cancel(split=split)
        except InvoiceNotCancellable as exc:
            raise ApiError(code="not_cancellable", message=str(exc), status_code=status.HTTP_409_CONFLICT) from exc
        return Response(InvoiceStatusSerializer(status_payload(store.snapshot(split))).data)


def _etag_matches(etag: str, if_none_match: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2): ``W/"x"`` matches ``"x"``."""
    tags = parse_etags(if_none_match)
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


# Errors of the QR view: JSON, whatever the client asked for.
_QR_ERRORS = {(code, "application/json"): response for code, response in {404: ERR_404, **COMMON_ERRORS}.items()}


class InvoiceQrApi(MerchantApiView):
    @extend_schema(
        operation_id="invoices_qr",
        summary="Invoice QR code (SVG)",
        description=(
            "The invoice's QR code (`LIGHTNING:<BOLT11>` in upper case) as an SVG document, rendered on "
            "request. `Cache-Control: private, max-age=<seconds until the invoice expires>` and a strong "
            "`ETag`: a client that sends it back in `If-None-Match` gets a 304 without a body."
        ),
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="The `ETag` of a copy the client already has.",
            )
        ],
        responses={
            (200, "image/svg+xml"): OpenApiResponse(response=OpenApiTypes.STR, description="The SVG document."),
            (304, "image/svg+xml"): OpenApiResponse(description="Not modified: the client's copy is current."),
            **_QR_ERRORS,
        },
        tags=["invoices"],
    )
    def get(self, request: Request, payment_hash: str) -> HttpResponseBase:
        merchant_id = request_merchant_id(request)
        assert merchant_id is not None  # HasMerchant
        source = selectors.split_qr_source(merchant_id=merchant_id, payment_hash=payment_hash)
        if source is None:
            raise _not_found()
        etag = qr_etag(payment_hash.lower())
        until_expiry = int((source.expires_at - timezone.now()).total_seconds())
        headers = {"ETag": etag, "Cache-Control": f"private, max-age={max(0, until_expiry)}"}
        if _etag_matches(etag, request.headers.get("If-None-Match", "")):
            return HttpResponseNotModified(headers=headers)
        return HttpResponse(invoice_qr_svg(source.payment_request), content_type="image/svg+xml", headers=headers)

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[JSONRenderer, str]:
        # The picture is the answer whatever ``Accept`` says (an <img> asks for image/*, a strict client
        # for image/svg+xml: neither should get a 406); errors are the API's JSON.
        return JSONRenderer(), JSONRenderer.media_type

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # The picture may be kept by the client until the invoice expires; the base view forbids caching
        # for everything else (errors included).
        picture_cache = None if isinstance(response, Response) else response.get("Cache-Control")
        response = super().finalize_response(request, response, *args, **kwargs)
        if picture_cache is not None:
            response["Cache-Control"] = picture_cache
        return response
