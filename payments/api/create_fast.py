"""The create's fast path: ``POST /api/v1/invoices`` from a terminal without DRF's request machinery.

A create through the DRF view pays for the request wrapper, content negotiation, authentication, the
permission, the throttle's Redis pipeline plus the middleware's block check (two round trips), a fresh
``InputSerializer`` (DRF deep-copies its fields per instance) and the renderer: ~2-3 ms of CPU before
the sale's own work. Here, for the common request only:

1. the key is checked against this process's few-seconds memory of the terminal (no SQL, as the
   status poll's fast path does; payments/terminal_keys.py);
2. the JSON body is parsed as ``LimitedJSONParser`` parses it and every field goes through the SAME
   field objects as ``InvoiceCreateApi.InputSerializer`` (bound once); any unknown field, any value a
   field refuses, a body that is not an object, too large, not JSON, or not ``application/json``:
   nothing is counted and the DRF view answers (all its 4xx with every field named come from there);
3. ``fast_gate.admit``: the API-key block, the rate counters and the "last used" marker in one
   script (same keys, same order: refused or throttled requests are answered exactly as DRF does);
4. ``create_answer``, shared with the DRF view: the same merchant/terminal load, Idempotency-Key
   handling, per-account limits and Blink block (in ``invoice_create``), rows, events and Redis
   document; errors go through the project's exception handler. The terminal with its merchant and
   the tip's profile or staff member come from this process's copies while the sale-configuration
   generation the script read is current (payments/sale_config_cache.py), else from PostgreSQL.

The DRF view stays the reference and the documented operation (drf-spectacular reads ``cls``): it
serves other methods (GET history), query strings (``?include=qr_svg``), unusual ``Accept``/content
types, session users, keys this process does not remember (the 401s and their counting happen
there), a stale record, any Redis error, and everything when ``API_CREATE_FAST_PATH = False``.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import ValidationError
from rest_framework.fields import empty

from blinkpos import auth_throttle
from payments.api import fast_gate
from payments.api.authentication import KEY_SCHEME, Remembered, authenticate_remembered
from payments.api.common import touch_terminal
from payments.api.create_steps import create_answer, terminal_merchant_and_terminal
from payments.api.invoices import InvoiceCollectionApi, InvoiceCreateApi
from payments.sale_config_cache import SaleConfigLookups

_ALLOW = fast_gate.allow_header(InvoiceCollectionApi)
# The serializer's fields, bound once: running them is the serializer's per-field work without its
# per-request deep copy. They keep no per-request state.
_FIELDS = InvoiceCreateApi.InputSerializer().fields
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})


def _refuse_constant(name: str) -> str:
    return name  # as LimitedJSONParser: the field that carried NaN/Infinity names itself


def _valid_body(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the body as ``request.data`` holds it, the serializer's validated data), or None when the DRF
    view must answer (anything it would refuse, and anything unusual)."""
    if request.META.get("CONTENT_TYPE", "").lower() not in _JSON_TYPES:
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:  # the 413 (and empty bodies): DRF
        return None
    try:
        raw = json.loads(request.body.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(raw, dict) or not raw.keys() <= _FIELDS.keys():
        return None
    data: dict[str, Any] = {}
    try:
        for name, field in _FIELDS.items():
            if name in raw:
                data[name] = field.run_validation(raw[name])
            elif field.default is not empty:
                data[name] = field.get_default()
    except (ValidationError, DjangoValidationError):
        return None
    return raw, data


def _fast(
    request: HttpRequest, remembered: Remembered, raw: dict[str, Any], data: dict[str, Any]
) -> HttpResponse | None:
    """The create, or None when Redis failed or the record is stale (nothing counted or written: the
    DRF view then answers as before)."""
    admitted = fast_gate.admit(request, remembered, allow=_ALLOW)
    if not isinstance(admitted, fast_gate.Admitted):
        return admitted
    principal = remembered.principal
    # Under the generation the script read, i.e. before any of these rows is read from PostgreSQL.
    lookups = SaleConfigLookups(admitted.sale_generation)
    try:
        if admitted.touched:
            touch_terminal(principal.terminal_id)
        merchant, terminal = terminal_merchant_and_terminal(
            terminal_id=principal.terminal_id, merchant_id=principal.merchant_id, lookups=lookups
        )
        answer, status, headers = create_answer(
            merchant=merchant,
            terminal=terminal,
            data=data,
            idempotency_key=request.headers.get("Idempotency-Key"),
            path=request.path,
            request_body=raw,
            include_qr=False,
            lookups=lookups,
        )
    except Exception as exc:  # mapped as the DRF view maps it (4xx, 429 with Retry-After, 503); else raised
        return fast_gate.error(exc, allow=_ALLOW)
    return fast_gate.respond(answer, allow=_ALLOW, status=status, headers=headers)


_drf_view = InvoiceCollectionApi.as_view()


@functools.wraps(_drf_view)  # keeps cls/initkwargs/csrf_exempt: drf-spectacular documents the DRF view
def invoice_collection_view(request: HttpRequest) -> HttpResponse:
    if not auth_throttle.uses_api_key(request):
        return _drf_view(request)  # session users: nothing to check here
    header = str(request.META.get("HTTP_AUTHORIZATION", ""))
    scheme, _, key = header.partition(" ")
    usable = request.method == "POST" and getattr(settings, "API_CREATE_FAST_PATH", True) and fast_gate.usable(request)
    remembered = authenticate_remembered(key.strip()) if scheme == KEY_SCHEME and usable else None
    if remembered is not None:
        body = _valid_body(request)
        if body is not None:
            response = _fast(request, remembered, *body)
            if response is not None:
                return response
            # Redis failed (the DRF path fails open) or the record is stale (the script checked the
            # block first): the DRF view looks the key up again.
            return _drf_view(request)
    # The middleware left the API-key block check to this view (checks_api_key_block).
    refused = auth_throttle.api_key_blocked_response(request)
    if refused is not None:
        return refused
    return _drf_view(request)


invoice_collection_view.checks_api_key_block = True  # type: ignore[attr-defined]
