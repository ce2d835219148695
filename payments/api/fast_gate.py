"""The Redis half of the POS API's fast paths (status poll: ``status_fast``; create: ``create_fast``):
one Lua script that does, atomically and in the DRF path's order, what ``TerminalKeyAuthentication``'s
block check, ``ApiRateThrottle`` and the "last used" marker do in three round trips.

1. the address's API-key failure counter: past the limit, 429 ``too_many_attempts`` and nothing else
   happens (no rate counter, no marker: exactly as when the middleware refused it up front);
2. the remembered auth record's generation against Redis's current one: stale, nothing is counted
   and the caller takes the DRF path (which looks the key up again);
3. GET of the sale-configuration generation (``sale:configgen``, payments/sale_config.py): the create
   trusts its process's copies of the terminal, merchant, profile and staff only under it
   (payments/sale_config_cache.py), and it is read here, before any of them is read from PostgreSQL,
   at no extra round trip (the poll ignores it);
4. INCR + EXPIRE of the terminal's and the merchant's rate counters (``ApiRateThrottle``'s keys);
5. SET NX of the once-a-minute "last used" marker;
6. unless a rate limit was exceeded: GET of an optional document key and, on a hit, INCR of a
   counter key (the poll's ``tip:{hash}`` and hits counter).

Responses built here are the DRF views' byte for byte (same renderer output, same exception handler,
``Allow`` and ``Cache-Control: no-store, private``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views import View
from django_redis import get_redis_connection
from redis.commands.core import Script
from redis.exceptions import RedisError
from rest_framework import exceptions

from blinkpos import auth_throttle
from blinkpos.logging import get_logger
from payments import sale_config, store, terminal_keys
from payments.api import errors
from payments.api.authentication import Remembered
from payments.api.throttling import TOUCH_INTERVAL_SECONDS, TOUCH_KEY, parse_rate, rate_key

log = get_logger(__name__)

# KEYS: auth-failure counter, auth generation, sale-config generation, n rate counters, touch marker,
#       [document, hits counter]
# ARGV: failure limit, n, touch TTL, the remembered record's generation, then (limit, TTL) per counter
# Returns {1} when blocked, {2} when the remembered record is stale (a revocation or deactivation since:
# nothing counted, the DRF path decides), else {0, touched, throttled, sale-config generation (nil when
# missing: GET's false becomes a nil reply), count_1..count_n[, document]}.
_SCRIPT = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return {1}
end
if redis.call('GET', KEYS[2]) ~= ARGV[4] then
  return {2}
end
local n = tonumber(ARGV[2])
local out = {0, 0, 0, redis.call('GET', KEYS[3])}
for i = 1, n do
  local count = redis.call('INCR', KEYS[3 + i])
  redis.call('EXPIRE', KEYS[3 + i], ARGV[4 + 2 * i])
  out[4 + i] = count
  if count > tonumber(ARGV[3 + 2 * i]) then
    out[3] = 1
  end
end
if redis.call('SET', KEYS[n + 4], '1', 'NX', 'EX', ARGV[3]) then
  out[2] = 1
end
if out[3] == 0 and #KEYS > n + 4 then
  local document = redis.call('GET', KEYS[n + 5])
  if document then
    redis.call('INCR', KEYS[n + 6])
    out[#out + 1] = document
  end
end
return out
"""
_script: Script | None = None  # registered on first use (redis-py's EVALSHA, loading it when the server lacks it)

# Accept values DRF's negotiation answers with plain ``application/json`` (others go the DRF way,
# e.g. ``application/json; indent=4`` renders differently and ``text/html`` is a 406).
PLAIN_ACCEPT = frozenset({"", "*/*", "application/json", "application/json, text/plain, */*"})


def allow_header(view: type[View]) -> str:
    """A view's ``Allow`` header as DRF sends it: Django's View.setup() adds HEAD to a view with GET."""
    return ", ".join(
        m.upper() for m in view.http_method_names if hasattr(view, m) or (m == "head" and hasattr(view, "get"))
    )


def render(data: Any) -> bytes:
    """DRF's JSONRenderer output for ``data`` (compact, UTF-8, U+2028/U+2029 escaped)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def respond(data: Any, *, allow: str, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(render(data), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    response["Allow"] = allow
    response["Cache-Control"] = "no-store, private"
    return response


def error(exc: Exception, *, allow: str) -> HttpResponse:
    """The response the DRF view gives for ``exc``: the same exception handler makes the body."""
    handled = errors.exception_handler(exc, {})
    if handled is None:
        raise exc
    retry_after = handled.get("Retry-After")
    return respond(
        handled.data,
        allow=allow,
        status=handled.status_code,
        headers={"Retry-After": retry_after} if retry_after else None,
    )


def usable(request: HttpRequest) -> bool:
    """What every fast path needs: a plain JSON answer, the switch on, rate counters and documents on
    one Redis (one script, one connection), and no counts a Redis outage left for the store to flush."""
    return (
        request.META.get("HTTP_ACCEPT", "") in PLAIN_ACCEPT
        and not request.META.get("QUERY_STRING")
        and settings.CACHES["default"]["LOCATION"] == settings.CACHES[store.HOT_ALIAS]["LOCATION"]
        and not store.unflushed_counts()
    )


@dataclass(frozen=True)
class _Counter:
    limit: int
    period: int
    window: int


@dataclass(frozen=True)
class Admitted:
    """Counted and not throttled: whether this request claimed the "last used" marker, the document
    read by the script (None: no document key, or a miss) and the sale-configuration generation read
    before anything else of the request (None: the key is missing)."""

    touched: bool
    document: bytes | None
    sale_generation: str | None


def _run_script(conn: Any, keys: list[str], args: list[int | str]) -> list[Any]:
    global _script  # one per process: its SHA does not depend on the client
    if _script is None:
        _script = conn.register_script(_SCRIPT)
    return list(_script(keys=keys, args=args, client=conn))


def admit(
    request: HttpRequest, remembered: Remembered, *, allow: str, document_keys: tuple[str, str] | None = None
) -> Admitted | HttpResponse | None:
    """Block check, rate counters and marker in one round trip. An ``HttpResponse`` is the answer (the
    block's or the rate limit's 429); None means Redis failed or the record is stale: the caller takes
    the DRF path (which fails open on Redis errors and looks a stale key up again)."""
    principal = remembered.principal
    now = time.time()
    ip = auth_throttle.client_ip(request)
    fail_limit, _ = auth_throttle.limits("api_key")
    keys = [auth_throttle.failure_key("api_key", ip), terminal_keys.AUTH_GENERATION_KEY, sale_config.GENERATION_KEY]
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
    if document_keys is not None:
        keys += list(document_keys)
    try:
        result = _run_script(get_redis_connection(store.HOT_ALIAS), keys, args)
    except RedisError as exc:
        log.warning("fast_path.redis_unavailable", error=type(exc).__name__)
        return None

    if result[0] == 2:
        terminal_keys.forget_local(remembered.prefix)
        return None
    if result[0]:
        return auth_throttle.api_key_throttled(ip)
    if result[2]:
        counts = result[4 : 4 + len(counters)]
        wait = max(
            (c.window + 1) * c.period - now for c, count in zip(counters, counts, strict=True) if int(count) > c.limit
        )
        return error(exceptions.Throttled(wait or 1.0), allow=allow)
    document = result[-1] if len(result) > 4 + len(counters) else None
    generation = result[3].decode() if result[3] is not None else None
    return Admitted(touched=bool(result[1]), document=document, sale_generation=generation)
