"""Rate limits for the public endpoints (no key, no login): pay codes' LNURL-pay and the receipt's
"add a tip" page. Fixed windows counted in Redis like the POS API's (``payments.api.throttling``),
per client address and per target (a code, a sale), with rates from ``API_RATE_LIMITS``
(``public_ip``, ``paycode``, ``receipt_tip``). Without Redis a request is allowed: a limit protects
capacity and the shared invoice limit of the platform account; it never decides about money.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.auth_throttle import client_ip
from blinkpos.logging import get_logger
from payments.api.throttling import parse_rate, rate_key

log = get_logger(__name__)


def public_rate_wait(request: HttpRequest, *, scope: str, target: str) -> int | None:
    """Count this request; the whole seconds to wait when a limit is exceeded, else None."""
    counters = [("public_ip", client_ip(request)), (scope, target)]
    now = time.time()
    windows: list[tuple[int, int, int]] = []
    try:
        pipe = get_redis_connection("default").pipeline(transaction=False)
        for name, ident in counters:
            rate = settings.API_RATE_LIMITS.get(name)
            if not rate:
                continue
            limit, period = parse_rate(rate)
            window = int(now // period)
            key = rate_key(name, ident, window)
            pipe.incr(key)
            pipe.expire(key, period + 1)
            windows.append((limit, period, window))
        if not windows:
            return None
        results = pipe.execute()
    except RedisError as exc:
        log.warning("ratelimit.unavailable", error=type(exc).__name__)
        return None
    waits = [
        (window + 1) * period - now
        for (limit, period, window), count in zip(windows, results[0::2], strict=True)
        if int(count) > limit
    ]
    return max(1, int(max(waits)) + 1) if waits else None
