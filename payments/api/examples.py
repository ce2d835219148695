"""OpenAPI examples and documented responses of the POS API (drf-spectacular reads them from the views'
``extend_schema``). Kept apart from the views so a view reads as its request flow."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from payments.api.status_payload import InvoiceStatusSerializer

# --- the one error format -------------------------------------------------------------------------


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
ERR_403_TERMINAL = _error(
    403,
    "Only a terminal's API key can ask about its own sales (a signed-in user has no terminal).",
    "terminal_key_required",
    "This operation needs a terminal API key.",
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
ERR_409_CLOCK = _error(
    409,
    "Already clocked in (action `in`), not clocked in (action `out`), or the terminal has no group.",
    "already_clocked_in",
    "Alice is already clocked in.",
    {"staff_id": ["Alice is already clocked in."]},
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
ERR_429_CREATE = OpenApiResponse(
    response=ErrorSerializer,
    description=(
        "Too many requests for this terminal or merchant (`rate_limited`), or Blink is refusing new invoices "
        "on the platform account for a few minutes (`provider_rate_limited`, its invoice rate limit). Nothing "
        "was created and the Idempotency-Key is free again; retry after `Retry-After` seconds."
    ),
    examples=[
        OpenApiExample(
            code,
            value={"error": {"code": code, "message": message, "fields": {}}},
            status_codes=["429"],
            response_only=True,
        )
        for code, message in (
            ("rate_limited", "Request was throttled. Expected available in 12 seconds."),
            (
                "provider_rate_limited",
                "The Lightning wallet provider is refusing new invoices for a few minutes (rate limit); "
                "try again in 240 s.",
            ),
        )
    ],
)
ERR_502 = _error(
    502,
    "The wallet provider refused the request (configuration problem).",
    "provider_error",
    "The wallet provider could not create the invoice.",
)
ERR_503 = _error(
    503,
    "The wallet provider is busy or unreachable; nothing was created. Retry after `Retry-After`. "
    "`platform_account_inactive`: the merchant's platform account was disabled by the operator.",
    "provider_unavailable",
    "The Lightning wallet provider is temporarily unavailable; try again shortly.",
)
COMMON_ERRORS = {401: ERR_401, 403: ERR_403, 429: ERR_429}


# --- invoices -------------------------------------------------------------------------------------

STATUS_EXAMPLE: dict[str, Any] = {
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
    "receipt_url": None,
    "receipt_escpos_url": None,
}

STATUS_RESPONSE = OpenApiResponse(
    response=InvoiceStatusSerializer,
    examples=[OpenApiExample("Pending", value=STATUS_EXAMPLE, response_only=True, status_codes=["200"])],
)

INVOICE_CREATE_EXAMPLES = [
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
]


# --- the merchant's settings, staff and teams -------------------------------------------------------

MERCHANT_EXAMPLES = [
    OpenApiExample(
        "Merchant",
        value={
            "id": 1,
            "name": "Demo Cafe",
            "blink_username": "demo_merchant",
            "display_currency": "USD",
            "tip_presets": [10, 15, 20],
            "has_blink_api_key": False,
            "absorbs_payout_fees": False,
        },
        response_only=True,
    )
]

STAFF_EXAMPLES = [
    OpenApiExample(
        "Staff",
        value=[{"id": 12, "display_name": "Alice", "blink_username": "alice"}],
        response_only=True,
    )
]

SPLIT_PROFILE_EXAMPLES = [
    OpenApiExample(
        "Profiles",
        value=[
            {
                "id": 3,
                "name": "Floor team",
                "shares": [
                    {"staff_id": 12, "display_name": "Alice", "blink_username": "alice", "weight_bps": 5000},
                    {"staff_id": 13, "display_name": "Bob", "blink_username": "bob", "weight_bps": 5000},
                ],
            }
        ],
        response_only=True,
    )
]


def idempotency_key_header(unique_per: str) -> OpenApiParameter:
    """The optional ``Idempotency-Key`` request header of a create (``services/idempotency``)."""
    return OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description=f"Unique per {unique_per} (1-255 printable characters), e.g. a UUID.",
    )
