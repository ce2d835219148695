"""``GET /api/v1/invoices/{payment_hash}/qr.svg``: the invoice's QR code as an SVG document, rendered on
request, cacheable by the client until the invoice expires."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseNotModified
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from payments import selectors
from payments.api import schema as _schema  # noqa: F401  (registers the auth scheme)
from payments.api.common import MerchantApiView
from payments.api.errors import not_found
from payments.api.examples import COMMON_ERRORS, ERR_404
from payments.api.principal import request_merchant_id
from payments.qr import invoice_qr_svg, qr_etag


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
            raise not_found()
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
