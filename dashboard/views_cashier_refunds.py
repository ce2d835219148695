"""Refunds from the cashier's view (``/cashier/refund/<hash>/``): the terminal's own completed sales only,
and only when the cashier may refund (the PIN's grant, or the terminal's for a key-only session;
``cashier_access``). 403 when they may not, 404 for a sale of another terminal.

The form creates the refund with the refunds service (``payments.services.refunds.refund_create``, as
the dashboard does); the cashier's refund page then shows the funding invoice QR (the merchant pays it
from their own wallet), then the customer's claim QR and the status. No dashboard login, and nothing
of the merchant beyond this terminal's refund. docs/ARCHITECTURE.md, Refunds.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.cashier_access import Cashier, cashier_required
from dashboard.forms import RefundForm
from dashboard.refund_submit import new_form_key, refund_submit, renew_stale_key
from dashboard.views_refunds import LIVE_STATUSES
from payments.lnurl.withdraw import lnurl_encode
from payments.models import PaymentSplit, Refund, RefundStatus
from payments.qr import invoice_qr_svg
from payments.services.refund_payouts import claim_open
from payments.services.refunds import refund_funding_check, refundable


def _may_refund(cashier: Cashier) -> None:
    if not cashier.can_refund:
        raise PermissionDenied("This cashier may not refund; the merchant can allow it in the settings.")


def _sale(cashier: Cashier, payment_hash: str) -> PaymentSplit:
    split = PaymentSplit.objects.filter(
        payment_hash=payment_hash.lower(), terminal=cashier.terminal, merchant_id=cashier.terminal.merchant_id
    ).first()
    if split is None:
        raise Http404("No such sale on this terminal")
    return split


def _refund(cashier: Cashier, refund_id: int) -> Refund:
    refund = (
        Refund.objects.filter(pk=refund_id, split__terminal=cashier.terminal, merchant_id=cashier.terminal.merchant_id)
        .select_related("split")
        .first()
    )
    if refund is None:
        raise Http404("No such refund on this terminal")
    return refund


def _add_errors(form: RefundForm, exc: Exception) -> None:
    for name, errors in user_error_fields(exc).items():  # type: ignore[arg-type]
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


def _requested_by(cashier: Cashier) -> str:
    who = f"terminal:{cashier.terminal.pk}"
    return f"{who}:staff:{cashier.staff.pk}" if cashier.staff else who


@never_cache
@require_http_methods(["GET", "POST"])
@cashier_required
def cashier_refund_new(request: HttpRequest, cashier: Cashier, payment_hash: str) -> HttpResponse:
    _may_refund(cashier)
    split = _sale(cashier, payment_hash)
    form = RefundForm(request.POST or None, initial={"form_key": new_form_key()})
    context = {"cashier": cashier, "cashier_nav": "sales", "split": split, "form": form, "left": refundable(split)}
    if request.method == "GET":
        return render(request, "dashboard/cashier_refund_new.html", context)
    if form.is_valid():
        try:
            refund_id = refund_submit(
                cleaned=form.cleaned_data,
                merchant=cashier.terminal.merchant,
                split=split,
                path=request.path,
                requested_by=_requested_by(cashier),
                terminal=cashier.terminal,
            )
        except USER_ERRORS as exc:
            _add_errors(form, exc)
        else:
            return redirect("dashboard:cashier-refund", refund_id=refund_id)
    renew_stale_key(form)
    return render(request, "dashboard/cashier_refund_new.html", context, status=400)


def _claim_lnurl(request: HttpRequest, refund: Refund) -> str | None:
    if not claim_open(refund):
        return None
    return lnurl_encode(request.build_absolute_uri(reverse("refund-claim", args=[refund.claim_token])))


@never_cache
@require_GET
@cashier_required
def cashier_refund_detail(request: HttpRequest, cashier: Cashier, refund_id: int) -> HttpResponse:
    _may_refund(cashier)
    refund = _refund(cashier, refund_id)
    if refund.status == RefundStatus.AWAITING_FUNDING:
        refund_funding_check(refund_id=refund.pk)  # the webhook usually got there first; a poll costs little
        refund.refresh_from_db()
    context = {
        "cashier": cashier,
        "cashier_nav": "sales",
        "refund": refund,
        "split": refund.split,
        "claim_lnurl": _claim_lnurl(request, refund),
        "live": refund.status in LIVE_STATUSES,
    }
    return render(request, "dashboard/cashier_refund.html", context)


@never_cache
@require_GET
@cashier_required
def cashier_refund_qr(request: HttpRequest, cashier: Cashier, refund_id: int, which: str) -> HttpResponse:
    """The funding invoice (for the merchant's wallet) or the claim LNURL (for the customer's) as a QR."""
    _may_refund(cashier)
    refund = _refund(cashier, refund_id)
    if which == "funding" and refund.status == RefundStatus.AWAITING_FUNDING:
        content = refund.funding_payment_request
    elif which == "claim" and (claim := _claim_lnurl(request, refund)):
        content = claim
    else:
        return HttpResponse(status=404)
    response = HttpResponse(invoice_qr_svg(content), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response
