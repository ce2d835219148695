"""An invoice's status as the API shows it: built from the hot-store document (``store.snapshot``) by
the status poll, the history, cancel, check and the create answer.

``status_payload`` is pure (the hot path builds it without touching PostgreSQL);
``InvoiceStatusSerializer`` documents and renders it; ``status_body`` gives the serializer's output
without the serializer's per-field work, for the status poll's fast path and the create answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from payments.models import SplitStatus

# Display amounts are stored with 8 decimals; shown with the currency's own (lossless: amounts are
# validated/rounded to those digits when created).
_CURRENCY_PLACES = {"BTC": 8}
_DEFAULT_PLACES = 2
_CENT = Decimal("0.01")
_DATETIME_FIELDS = ("created_at", "expires_at", "paid_at", "processed_at")


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
        **receipt_urls(document.get("receiptToken")),
    }


def receipt_urls(token: str | None) -> dict[str, str | None]:
    """The customer's receipt page and its ESC/POS bytes (paths on this server), or nulls."""
    if not token:
        return {"receipt_url": None, "receipt_escpos_url": None}
    return {
        "receipt_url": reverse("dashboard:receipt", args=[token]),
        "receipt_escpos_url": reverse("dashboard:receipt-escpos", args=[token]),
    }


def status_body(document: dict[str, Any]) -> dict[str, Any]:
    """What ``InvoiceStatusSerializer(status_payload(document)).data`` gives, without the serializer:
    the only field it changes is ``tip_percent`` (two decimals), and it turns empty timestamps into null."""
    body = status_payload(document)
    tip_percent = body["tip_percent"]
    if tip_percent is not None:
        body["tip_percent"] = f"{Decimal(str(tip_percent).strip()).quantize(_CENT):f}"
    for name in _DATETIME_FIELDS:
        body[name] = body[name] or None
    return body


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
    receipt_url = serializers.CharField(
        allow_null=True,
        help_text=(
            "Once paid: path of the customer's receipt page (`/r/{token}/`, no login, unguessable); show it "
            "as a QR code or print it. Null before payment."
        ),
    )
    receipt_escpos_url = serializers.CharField(
        allow_null=True,
        help_text=(
            "Once paid: path of the same receipt as ESC/POS bytes for a thermal printer "
            "(`?paper=58` for 32 columns, `80` (default) for 48). Null before payment."
        ),
    )
