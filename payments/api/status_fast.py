"""The status poll's fast path: ``GET /api/v1/invoices/{hash}`` for a terminal in ONE Redis round trip.

A terminal polls about once a second, so this is the API's hottest request. Through the DRF view it
costs four Redis round trips (the auth-failure counter, the rate-limit pipeline, the status document,
the hit counter) plus DRF's request, negotiation, serializer and renderer machinery. Here one Lua
script does the whole Redis part atomically, in the order the DRF path does it:

1. the address's API-key failure counter: past the limit, 429 ``too_many_attempts`` and nothing else
   happens (no rate counter, no marker: exactly as when the middleware refused it up front);
2. INCR + EXPIRE of the terminal's and the merchant's rate counters (``ApiRateThrottle``'s keys);
3. SET NX of the once-a-minute "last used" marker;
4. unless a rate limit was exceeded: GET of ``tip:{hash}`` and, on a hit, INCR of the hits counter.

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
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection
from redis.exceptions import NoScriptError, RedisError
from rest_framework import exceptions

from blinkpos import auth_throttle
from blinkpos.logging import get_logger
from payments import selectors, store, terminal_keys
from payments.api import errors
from payments.api.authentication import KEY_SCHEME, Remembered, authenticate_remembered
from payments.api.common import touch_terminal
from payments.api.invoices import InvoiceDetailApi
from payments.api.status_payload import status_body
from payments.api.throttling import TOUCH_INTERVAL_SECONDS, TOUCH_KEY, parse_rate, rate_key

log = get_logger(__name__)

# KEYS: auth-failure counter, auth generation, n rate counters, touch marker, [tip:{hash}, hits counter]
# ARGV: failure limit, n, touch TTL, the remembered record's generation, then (limit, TTL) per counter
# Returns {1} when blocked, {2} when the remembered record is stale (a revocation or deactivation since:
# nothing counted, the DRF path decides), else {0, touched, throttled, count_1..count_n[, document]}.
_SCRIPT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return {1}
end
if redis.call('GET', KEYS[2]) ~= ARGV[4] then
  return {2}
end
local n = tonumber(ARGV[2])
local out = {0, 0, 0}
for i = 1, n do
  local count = redis.call('INCR', KEYS[2 + i])
  redis.call('EXPIRE', KEYS[2 + i], ARGV[4 + 2 * i])
  out[3 + i] = count
  if count > tonumber(ARGV[3 + 2 * i]) then
    out[3] = 1
  end
end
if redis.call('SET', KEYS[n + 3], '1', 'NX', 'EX', ARGV[3]) then
  out[2] = 1
end
if out[3] == 0 and #KEYS > n + 3 then
  local document = redis.call('GET', KEYS[n + 4])
  if document then
    redis.call('INCR', KEYS[n + 5])
    out[#out + 1] = document
  end
end
return out
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)

# Accept values DRF's negotiation answers with plain ``application/json`` (others go the DRF way,
# e.g. ``application/json; indent=4`` renders differently and ``text/html`` is a 406).
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json", "application/json, text/plain, */*"})
# The view's ``Allow`` header as DRF sends it: Django's View.setup() adds HEAD to a view that has GET.
_ALLOW = ", ".join(
    m.upper()
    for m in InvoiceDetailApi.http_method_names
    if hasattr(InvoiceDetailApi, m) or (m == "head" and hasattr(InvoiceDetailApi, "get"))
)


def render(data: Any) -> bytes:
    """DRF's JSONRenderer output for ``data`` (compact, UTF-8, U+2028/U+2029 escaped)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _respond(data: Any, status: int = 200, retry_after: str | None = None) -> HttpResponse:
    response = HttpResponse(render(data), status=status, content_type="application/json")
    response["Allow"] = _ALLOW
    if retry_after is not None:
        response["Retry-After"] = retry_after
    response["Cache-Control"] = "no-store, private"
    return response


def _error(exc: Exception) -> HttpResponse:
    """The response the DRF view gives for ``exc``: the same exception handler makes the body."""
    handled = errors.exception_handler(exc, {})
    if handled is None:
        raise exc
    return _respond(handled.data, handled.status_code, handled.get("Retry-After"))


@dataclass(frozen=True)
class _Counter:
    limit: int
    period: int
    window: int


def _run_script(conn: Any, keys: list[str], args: list[int | str]) -> list[Any]:
    try:
        return list(conn.evalsha(_SCRIPT_SHA, len(keys), *keys, *args))
    except NoScriptError:
        # First use on this server (or after SCRIPT FLUSH): EVAL loads it for the next EVALSHA.
        return list(conn.eval(_SCRIPT, len(keys), *keys, *args))


def _fast(request: HttpRequest, remembered: Remembered, payment_hash: str) -> HttpResponse | None:
    """The poll in one round trip, or None when Redis failed or the remembered record is stale (the
    caller then takes the DRF path)."""
    principal = remembered.principal
    now = time.time()
    ip = auth_throttle.client_ip(request)
    fail_limit, _ = auth_throttle.limits("api_key")
    keys = [auth_throttle.failure_key("api_key", ip), terminal_keys.AUTH_GENERATION_KEY]
    args: list[int | str] = [fail_limit, 0, TOUCH_INTERVAL_SECONDS, remembered.generation]
    counters: list[_Counter] = []
    # Same counters, keys and TTLs as ApiRateThrottle (terminal first, then merchant).
    for scope, ident in (("terminal", f"t{principal.terminal_id}"), ("merchant", str(principal.merchant_id))):
        rate = settings.API_RATE_LIMITS.get(scope)
        if not rate:
            continue
        limit, period = parse_rate(rate)
        window = int(now // period)
        keys.append(rate_key(scope, ident, window))
        args += [limit, period + 1]
        counters.append(_Counter(limit, period, window))
    args[1] = len(counters)
    keys.append(TOUCH_KEY.format(terminal_id=principal.terminal_id))
    normalized = selectors.normalize_payment_hash(payment_hash)
    if normalized is not None:  # a malformed hash is a 404 that never reads (nor counts) the store
        keys += [store.tip_key(normalized), store.COUNTER_KEY.format(name="hits")]
    try:
        result = _run_script(get_redis_connection(store.HOT_ALIAS), keys, args)
    except RedisError as exc:
        log.warning("status_fast.redis_unavailable", error=type(exc).__name__)
        return None

    if result[0] == 2:
        terminal_keys.forget_local(remembered.prefix)
        return None
    if result[0]:
        return auth_throttle.api_key_throttled(ip)
    counts = result[3 : 3 + len(counters)]
    if result[2]:
        wait = max(
            (c.window + 1) * c.period - now for c, count in zip(counters, counts, strict=True) if int(count) > c.limit
        )
        return _error(exceptions.Throttled(wait or 1.0))
    try:
        if result[1]:
            touch_terminal(principal.terminal_id)
        if normalized is None:
            document = None
        elif len(result) > 3 + len(counters):
            document = json.loads(result[-1])
        else:
            # Hot miss: PostgreSQL (re-warms an active split; counts the miss).
            document = selectors.split_status_document(merchant_id=principal.merchant_id, payment_hash=normalized)
    except Exception as exc:  # the exception handler maps database outages to 503, as in the DRF view
        return _error(exc)
    if document is None or document.get("merchantId") != principal.merchant_id:
        return _error(errors.not_found())
    return _respond(status_body(document))


def _usable(request: HttpRequest) -> bool:
    return (
        request.method == "GET"
        and not request.META.get("QUERY_STRING")
        and request.META.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPT
        and getattr(settings, "API_STATUS_FAST_PATH", True)
        # one script on one connection: the rate counters live on "default", the documents on "hot"
        and settings.CACHES["default"]["LOCATION"] == settings.CACHES[store.HOT_ALIAS]["LOCATION"]
        # counts a Redis outage left behind are flushed by the store's own next count (DRF path)
        and not store.unflushed_counts()
    )


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
