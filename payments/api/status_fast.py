"""The status poll's fast path: ``GET /api/v1/invoices/{hash}`` for a terminal in ONE Redis round trip.

A terminal polls about once a second, so this is the API's hottest request. Through the DRF view it
costs four Redis round trips (the auth-failure counter, the rate-limit pipeline, the status document,
the hit counter) plus DRF's request, negotiation, serializer and renderer machinery. Here one Lua
script (``fast_gate``, shared with the create's fast path) does the whole Redis part atomically, in
the order the DRF path does it: the API-key block, the rate counters, the "last used" marker and,
unless a rate limit was exceeded, GET of ``tip:{hash}`` and on a hit INCR of the hits counter.

The key is checked against this process's few-seconds memory of the terminal (no SQL), and that
memory's auth generation against Redis's current one inside the same script (before anything is
counted): a revocation or a merchant's deactivation in any process makes the next poll take the DRF
path, which looks the key up again and refuses it (payments/terminal_keys.py).
Everything unusual goes to the DRF view (``InvoiceDetailApi``), which stays the reference and the
documented operation: a key this process does not remember (or a wrong/revoked one: the 401, its
``WWW-Authenticate`` and its counting happen there), another method, a query string, an unusual
``Accept``, session users, the fast path switched off (``API_STATUS_FAST_PATH = False``), counts the
hot store still owes Redis, or any Redis error (the DRF path then fails open as it always did). A hot
miss is served from PostgreSQL through ``selectors.split_status_document`` (which re-warms the key).

Responses are the DRF view's, byte for byte: the same JSON (``status_body`` equals
``InvoiceStatusSerializer`` output, see tests/payments/api/test_status_fast.py), the same error
bodies (built by the project's exception handler), ``Allow`` and ``Cache-Control: no-store, private``.
"""

from __future__ import annotations

import functools
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from blinkpos import auth_throttle
from payments import selectors, store
from payments.api import errors, fast_gate
from payments.api.authentication import KEY_SCHEME, Remembered, authenticate_remembered
from payments.api.common import touch_terminal
from payments.api.fast_gate import render
from payments.api.invoices import InvoiceDetailApi
from payments.api.status_payload import status_body

__all__ = ["invoice_status_view", "render"]

_ALLOW = fast_gate.allow_header(InvoiceDetailApi)


def _fast(request: HttpRequest, remembered: Remembered, payment_hash: str) -> HttpResponse | None:
    """The poll in one round trip, or None when Redis failed or the remembered record is stale (the
    caller then takes the DRF path)."""
    principal = remembered.principal
    normalized = selectors.normalize_payment_hash(payment_hash)
    # a malformed hash is a 404 that never reads (nor counts) the store
    document_keys = (
        (store.tip_key(normalized), store.COUNTER_KEY.format(name="hits")) if normalized is not None else None
    )
    admitted = fast_gate.admit(request, remembered, allow=_ALLOW, document_keys=document_keys)
    if not isinstance(admitted, fast_gate.Admitted):
        return admitted
    try:
        if admitted.touched:
            touch_terminal(principal.terminal_id)
        if normalized is None:
            document = None
        elif admitted.document is not None:
            document = json.loads(admitted.document)
        else:
            # Hot miss: PostgreSQL (re-warms an active split; counts the miss).
            document = selectors.split_status_document(merchant_id=principal.merchant_id, payment_hash=normalized)
    except Exception as exc:  # the exception handler maps database outages to 503, as in the DRF view
        return fast_gate.error(exc, allow=_ALLOW)
    if document is None or document.get("merchantId") != principal.merchant_id:
        return fast_gate.error(errors.not_found(), allow=_ALLOW)
    return fast_gate.respond(status_body(document), allow=_ALLOW)


def _usable(request: HttpRequest) -> bool:
    return request.method == "GET" and getattr(settings, "API_STATUS_FAST_PATH", True) and fast_gate.usable(request)


_drf_view = InvoiceDetailApi.as_view()


@functools.wraps(_drf_view)  # keeps cls/initkwargs/csrf_exempt: drf-spectacular documents InvoiceDetailApi
def invoice_status_view(request: HttpRequest, payment_hash: str) -> HttpResponse:
    if not auth_throttle.uses_api_key(request):
        return _drf_view(request, payment_hash=payment_hash)  # session users: nothing to check here
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, key = header.partition(" ")
    remembered = authenticate_remembered(key.strip()) if scheme == KEY_SCHEME and _usable(request) else None
    if remembered is not None:
        response = _fast(request, remembered, payment_hash)
        if response is not None:
            return response
        # Redis failed (the DRF path fails open; a block check now would fail open too), or the record
        # is stale (the script checked the block first): the DRF path looks the key up again.
        return _drf_view(request, payment_hash=payment_hash)
    # The middleware left the API-key block check to this view (checks_api_key_block).
    refused = auth_throttle.api_key_blocked_response(request)
    if refused is not None:
        return refused
    return _drf_view(request, payment_hash=payment_hash)


invoice_status_view.checks_api_key_block = True  # type: ignore[attr-defined]
