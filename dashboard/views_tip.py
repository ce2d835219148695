"""The customer's "add a tip" page for a completed sale (public, no login; the sale's unguessable
receipt token is the key): pick a percent or an amount → a tip-only invoice linked to the sale
(``payments.services.tip_invoices.receipt_tip_create``) → its QR code, with the status followed by
``static/dashboard/tip.js`` polling a small JSON endpoint. The receipt page (``/r/<token>/``) links
here by the URL name ``dashboard:receipt-tip``.
"""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from blinkpos.errors import USER_ERRORS, user_error_fields
from payments.api.public_limits import public_rate_wait
from payments.models import PaymentSplit, SplitKind, SplitStatus
from payments.qr import invoice_qr_svg

ENDED = (SplitStatus.EXPIRED, SplitStatus.CANCELLED)  # anything else after pending: the money arrived


class TipForm(forms.Form):
    tip_percent = forms.DecimalField(required=False, min_value=0, max_value=100, max_digits=5, decimal_places=2)
    amount_sats = forms.IntegerField(required=False, min_value=1, label="or an amount in sats")

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not self.errors and (data.get("tip_percent") is None) == (data.get("amount_sats") is None):
            self.add_error("amount_sats", "Choose a percent or enter an amount in sats (one of them).")
        return data


def _sale(token: str) -> PaymentSplit:
    sale = (
        PaymentSplit.objects.select_related("merchant", "staff", "split_profile")
        .filter(receipt_token=token, kind__in=[SplitKind.SALE, SplitKind.PAYCODE])
        .first()
    )
    if sale is None or len(token) > 64:
        raise Http404("No such receipt")
    return sale


def _tip(sale: PaymentSplit, tip_token: str) -> PaymentSplit:
    tip = PaymentSplit.objects.filter(receipt_token=tip_token, tip_for=sale).first()
    if tip is None:
        raise Http404("No such tip")
    return tip


def _form_page(request: HttpRequest, sale: PaymentSplit, form: TipForm, status: int = 200) -> HttpResponse:
    context = {"sale": sale, "form": form, "presets": sale.merchant.tip_presets, "completed": True}
    if sale.status != SplitStatus.COMPLETED:
        context["completed"] = False
        status = 409 if request.method == "POST" else 200
    return render(request, "dashboard/tip_add.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def receipt_tip(request: HttpRequest, token: str) -> HttpResponse:
    from payments.services.tip_invoices import receipt_tip_create

    sale = _sale(token)
    if request.method == "GET":
        return _form_page(request, sale, TipForm())
    form = TipForm(request.POST)
    if not form.is_valid() or sale.status != SplitStatus.COMPLETED:
        return _form_page(request, sale, form, status=400)
    wait = public_rate_wait(request, scope="receipt_tip", target=str(sale.pk))
    if wait is not None:
        form.add_error(None, f"Too many tips asked for just now; try again in {wait} s.")
        response = _form_page(request, sale, form, status=429)
        response["Retry-After"] = str(wait)
        return response
    try:
        tip = receipt_tip_create(
            sale=sale, amount_sats=form.cleaned_data["amount_sats"], tip_percent=form.cleaned_data["tip_percent"]
        )
    except USER_ERRORS as exc:
        status = getattr(exc, "http_status", 400)
        for field, errors in user_error_fields(exc).items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _form_page(request, sale, form, status=status)
    return redirect("dashboard:receipt-tip-invoice", token=token, tip_token=tip.receipt_token)


@never_cache
@require_GET
def receipt_tip_invoice(request: HttpRequest, token: str, tip_token: str) -> HttpResponse:
    sale = _sale(token)
    tip = _tip(sale, tip_token)
    phase = "pending" if tip.status == SplitStatus.PENDING else "ended" if tip.status in ENDED else "paid"
    return render(
        request,
        "dashboard/tip_invoice.html",
        {
            "sale": sale,
            "tip": tip,
            "phase": phase,
            "qr_svg": invoice_qr_svg(tip.payment_request) if phase == "pending" else "",
        },
    )


@never_cache
@require_GET
def receipt_tip_status(request: HttpRequest, token: str, tip_token: str) -> JsonResponse:
    """What the page's script polls: the tip's status only (payment is detected server side)."""
    tip = _tip(_sale(token), tip_token)
    return JsonResponse({"status": tip.status, "tip_sats": tip.tip_amount})
