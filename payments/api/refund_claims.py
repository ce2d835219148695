"""The customer's refund claim, LNURL-withdraw (LUD-03): public, unguessable URLs, no login.

``GET /api/v1/refund-claims/{token}`` answers the ``withdrawRequest`` (one exact amount);
``GET /api/v1/refund-claims/{token}/callback?k1=...&pr=...`` takes the wallet's invoice, checks and
commits it (``refund_payouts.refund_claim_withdraw``) and answers ``{"status": "OK"}``; the payout is
sent by a worker. Errors are LUD-03's ``{"status": "ERROR", "reason": ...}`` with a 4xx status and the
offending parameter in ``field``. Nothing here writes unless the claim is committed.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from blinkpos.errors import ApplicationError
from payments.lnurl.withdraw import LNURL_OK, lnurl_error, withdraw_request
from payments.models import Refund
from payments.services.refund_payouts import claim_open, refund_claim_withdraw

MAX_PARAM_CHARS = 4000


def _error(reason: str, status: int, field: str = "") -> JsonResponse:
    body: dict[str, str] = lnurl_error(reason)
    if field:
        body["field"] = field
    return JsonResponse(body, status=status)


@never_cache
@require_GET
def refund_claim(request: HttpRequest, token: str) -> JsonResponse:
    refund = Refund.objects.filter(claim_token=token).first()
    if refund is None:
        return _error("Unknown claim.", 404, "token")
    if not claim_open(refund):
        return _error(f"This refund cannot be claimed ({refund.status}).", 409)
    callback = request.build_absolute_uri(reverse("refund-claim-callback", args=[token]))
    return JsonResponse(
        withdraw_request(
            callback=callback,
            k1=refund.claim_k1,
            amount_sats=refund.amount_sats,
            description=f"Refund from {refund.merchant.name}"[:100],
        )
    )


@never_cache
@require_GET
def refund_claim_callback(request: HttpRequest, token: str) -> JsonResponse:
    if not Refund.objects.filter(claim_token=token).exists():
        return _error("Unknown claim.", 404, "token")
    k1 = request.GET.get("k1", "")
    payment_request = request.GET.get("pr", "")
    for name, value in (("k1", k1), ("pr", payment_request)):
        if not value or len(value) > MAX_PARAM_CHARS:
            return _error(f"Missing or oversized {name}.", 400, name)
    try:
        refund_claim_withdraw(claim_token=token, k1=k1, payment_request=payment_request)
    except ApplicationError as exc:
        return _error(exc.message, exc.http_status, next(iter(exc.fields), ""))
    return JsonResponse(LNURL_OK)
