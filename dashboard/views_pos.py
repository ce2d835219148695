"""The web POS: a keypad page, the invoice create / cancel endpoints its script calls, and the QR code.

The page's script polls ``GET /api/v1/invoices/{hash}`` (session auth) for the live status; payment is
only ever detected server side.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from blinkpos.errors import USER_ERRORS, user_error_response
from blinkpos.logging import get_logger
from dashboard.access import merchant_required
from dashboard.forms import InvoiceForm
from dashboard.selectors import split_get
from dashboard.views_pos_clock import pos_group, shift_panel
from payments.models import Merchant, PaymentSplit, SplitProfile, Staff
from payments.qr import invoice_qr_svg

log = get_logger(__name__)


# invoice_create reports errors under the POS API's input names.
SERVICE_FIELDS = {
    "amount_sats": "amount",
    "amount_display": "amount",
    "staff_id": "staff",
    "split_profile_id": "split_profile",
    "tip_sats": "tip_percent",
}


def _error(code: str, message: str, fields: dict[str, Any] | None = None, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


@require_GET
@merchant_required
def pos(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return render(
        request,
        "dashboard/pos.html",
        {
            "nav": "pos",
            "merchant": merchant,
            "staff": Staff.objects.filter(merchant=merchant, is_active=True),
            "profiles": SplitProfile.objects.filter(merchant=merchant, is_active=True),
            "presets": merchant.tip_presets,
            "shift_panel": shift_panel(request, merchant),
            "status_url_prefix": "/api/v1/invoices/",
            # Shown before a sale: people whose payout destination stopped resolving (recipient check).
            "unpayable": [
                *(["the merchant's own payout destination"] if not merchant.wallet_check_ok else []),
                *Staff.objects.filter(merchant=merchant, is_active=True, wallet_check_ok=False).values_list(
                    "display_name", flat=True
                ),
            ],
        },
    )


def invoice_document(split: PaymentSplit) -> dict[str, Any]:
    return {
        "paymentHash": split.payment_hash,
        "paymentRequest": split.payment_request,
        "status": split.status,
        "totalAmount": split.total_amount,
        "baseAmount": split.base_amount,
        "tipAmount": split.tip_amount,
        "displayCurrency": split.display_currency,
        "baseAmountDisplay": str(split.base_amount_display) if split.base_amount_display is not None else None,
        "tipAmountDisplay": str(split.tip_amount_display) if split.tip_amount_display is not None else None,
        "expiresAt": split.expires_at.isoformat(),
        "qrUrl": reverse("dashboard:pos-qr", args=[split.payment_hash]),
        "statusUrl": f"/api/v1/invoices/{split.payment_hash}",
        "cancelUrl": reverse("dashboard:pos-cancel", args=[split.payment_hash]),
        "detailUrl": reverse("dashboard:transaction", args=[split.payment_hash]),
    }


@require_POST
@merchant_required
def invoice_create_view(request: HttpRequest, merchant: Merchant) -> JsonResponse:
    form = InvoiceForm(request.POST, merchant=merchant)
    if not form.is_valid():
        fields = {k: [str(m) for m in v] for k, v in form.errors.items()}
        return _error("invalid_input", "Check the highlighted fields.", fields)
    data = form.cleaned_data
    amount_sats = int(data["amount"]) if data["unit"] == "sats" else None
    if amount_sats is not None and amount_sats > settings.MAX_INVOICE_SATS:
        return _error("invalid_input", "Amount too large.", {"amount": [f"at most {settings.MAX_INVOICE_SATS} sats"]})
    from payments.services.invoices import invoice_create

    try:
        split = invoice_create(
            merchant=merchant,
            terminal=None,  # the web POS is not a terminal device
            amount_sats=amount_sats,
            amount_display=data["amount"] if data["unit"] == "display" else None,
            tip_percent=data["tip_percent"],
            staff=data["staff"],
            split_profile=data["split_profile"],
            memo=data["memo"],
            pool_group=pos_group(request, merchant),  # pooled mode: this POS's terminal group
        )
    except USER_ERRORS as exc:
        # The service names its API inputs; map them onto this form's fields.
        return user_error_response(exc, field_names=SERVICE_FIELDS)
    log.info("web_pos_invoice_created", merchant_id=merchant.pk, split_id=split.pk, total_sats=split.total_amount)
    return JsonResponse(invoice_document(split), status=201)


@require_POST
@merchant_required
def invoice_cancel_view(request: HttpRequest, merchant: Merchant, payment_hash: str) -> JsonResponse:
    split = split_get(merchant=merchant, payment_hash=payment_hash)
    from payments.services.invoice_cancel import invoice_cancel

    try:
        invoice_cancel(split=split)
    except USER_ERRORS as exc:
        return user_error_response(exc)
    split.refresh_from_db()
    return JsonResponse({"paymentHash": split.payment_hash, "status": split.status})


@never_cache
@require_GET
@merchant_required
def invoice_qr(request: HttpRequest, merchant: Merchant, payment_hash: str) -> HttpResponse:
    """The invoice as an SVG QR code (``payments.qr``: ``LIGHTNING:<BOLT11>``, upper case)."""
    split = split_get(merchant=merchant, payment_hash=payment_hash)
    if not split.payment_request:
        return HttpResponse(status=404)
    # The same renderer as the POS API's qr.svg, so both show the identical code for a sale.
    response = HttpResponse(invoice_qr_svg(split.payment_request), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response
