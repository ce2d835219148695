"""Refunds in the dashboard: the refund form on a completed sale, the refund page (funding invoice QR,
then the customer's claim QR, the status and its audit trail), paying a refund to an invoice or a
Lightning address, cancelling an unfunded one. Every write is a service call
(``payments.services.refunds`` / ``refund_payouts``); refusals come back as a 400 naming the field."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.access import merchant_required
from dashboard.forms import RefundForm, RefundPayoutForm
from dashboard.refund_submit import new_form_key, refund_submit, renew_stale_key
from dashboard.selectors import split_get
from payments.lnurl.withdraw import lnurl_encode
from payments.models import Merchant, PaymentEvent, PayoutVia, Refund, RefundStatus
from payments.qr import invoice_qr_svg
from payments.refund_selectors import refund_get_for_merchant
from payments.services.receipts import receipt_token_ensure
from payments.services.refund_payouts import claim_open, payout_open, refund_payout_commit, refund_payout_to_address
from payments.services.refunds import refund_cancel, refund_funding_check, refundable

# While something is expected to change by itself, the page reloads (no script: CSP).
LIVE_STATUSES = frozenset({RefundStatus.AWAITING_FUNDING, RefundStatus.FUNDED, RefundStatus.PAYING})


def _refund(merchant: Merchant, refund_id: int) -> Refund:
    refund = refund_get_for_merchant(merchant_id=merchant.pk, refund_id=refund_id)
    if refund is None:
        raise Http404("No such refund")
    return refund


def _add_errors(form: Any, exc: Exception) -> None:
    for name, errors in user_error_fields(exc).items():  # type: ignore[arg-type]
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


@require_http_methods(["GET", "POST"])
@merchant_required
def refund_new(request: HttpRequest, merchant: Merchant, payment_hash: str) -> HttpResponse:
    split = split_get(merchant=merchant, payment_hash=payment_hash)
    form = RefundForm(request.POST or None, initial={"form_key": new_form_key()})
    context = {"nav": "transactions", "split": split, "form": form, "left": refundable(split)}
    if request.method == "GET":
        return render(request, "dashboard/refund_new.html", context)
    if form.is_valid():
        try:
            refund_id = refund_submit(
                cleaned=form.cleaned_data,
                merchant=merchant,
                split=split,
                path=request.path,
                requested_by=f"merchant:{request.user.pk}",
            )
        except USER_ERRORS as exc:
            _add_errors(form, exc)
        else:
            return redirect("dashboard:refund", refund_id=refund_id)
    renew_stale_key(form)
    return render(request, "dashboard/refund_new.html", context, status=400)


def _page(
    request: HttpRequest, refund: Refund, *, payout_form: RefundPayoutForm | None = None, status: int = 200
) -> HttpResponse:
    claim = None
    if claim_open(refund):
        claim = lnurl_encode(request.build_absolute_uri(reverse("refund-claim", args=[refund.claim_token])))
    events = PaymentEvent.objects.filter(split=refund.split, event_data__refund_id=refund.pk)
    if refund.status == RefundStatus.PAID:  # its receipt hangs under the sale's receipt token
        refund.split.receipt_token = receipt_token_ensure(split=refund.split)
    return render(
        request,
        "dashboard/refund.html",
        {
            "nav": "transactions",
            "refund": refund,
            "split": refund.split,
            "claim_lnurl": claim,
            "payout_form": payout_form or RefundPayoutForm(),
            "payout_open": payout_open(refund),
            "events": list(events.order_by("timestamp", "pk")),
            "live": refund.status in LIVE_STATUSES,
        },
        status=status,
    )


@require_GET
@merchant_required
def refund_detail(request: HttpRequest, merchant: Merchant, refund_id: int) -> HttpResponse:
    refund = _refund(merchant, refund_id)
    if refund.status == RefundStatus.AWAITING_FUNDING:
        refund_funding_check(refund_id=refund.pk)  # the webhook usually got there first; a poll costs little
        refund.refresh_from_db()
    return _page(request, refund)


@require_GET
@merchant_required
def refund_qr(request: HttpRequest, merchant: Merchant, refund_id: int, which: str) -> HttpResponse:
    """The funding invoice (for the merchant's wallet) or the claim LNURL (for the customer's) as a QR."""
    refund = _refund(merchant, refund_id)
    if which == "funding" and refund.status == RefundStatus.AWAITING_FUNDING:
        content = refund.funding_payment_request
    elif which == "claim" and claim_open(refund):
        content = lnurl_encode(request.build_absolute_uri(reverse("refund-claim", args=[refund.claim_token])))
    else:
        return HttpResponse(status=404)
    response = HttpResponse(invoice_qr_svg(content), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@merchant_required
def refund_payout(request: HttpRequest, merchant: Merchant, refund_id: int) -> HttpResponse:
    refund = _refund(merchant, refund_id)
    form = RefundPayoutForm(request.POST)
    if form.is_valid():
        try:
            if form.cleaned_data.get("payment_request"):
                refund_payout_commit(
                    refund_id=refund.pk, payment_request=form.cleaned_data["payment_request"], via=PayoutVia.INVOICE
                )
            else:
                refund_payout_to_address(refund_id=refund.pk, address=form.cleaned_data["address"])
        except USER_ERRORS as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "The refund is being paid.")
            return redirect("dashboard:refund", refund_id=refund.pk)
    refund.refresh_from_db()
    return _page(request, refund, payout_form=form, status=400)


@require_POST
@merchant_required
def refund_cancel_view(request: HttpRequest, merchant: Merchant, refund_id: int) -> HttpResponse:
    refund = _refund(merchant, refund_id)
    try:
        refund_cancel(merchant=merchant, refund_id=refund.pk, by=f"merchant:{request.user.pk}")
    except USER_ERRORS as exc:
        messages.error(request, "; ".join(m for ms in user_error_fields(exc).values() for m in ms))
        return redirect("dashboard:refund", refund_id=refund.pk)
    messages.success(request, "Refund cancelled; its funding invoice can no longer be paid.")
    return redirect("dashboard:transaction", payment_hash=refund.split.payment_hash)
