"""Rate limits per terminal and per merchant, counted in Redis (``ratelimit:{scope}:{ident}:{window}``).

A fixed-window counter: ``INCR`` + ``EXPIRE`` per counter, all in one pipeline (DRF's built-in throttle
keeps a list of timestamps per client, which grows with the rate and costs a read-modify-write).
Rates come from ``API_RATE_LIMITS`` (``"<count>/<sec|min|hour>"``). If Redis is unreachable the
request is allowed: a limit protects capacity, it never decides about money.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from blinkpos.logging import get_logger
from payments.api.authentication import TerminalPrincipal
from payments.api.principal import request_merchant_id

log = get_logger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → (600, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


def rate_key(scope: str, ident: str, window: int) -> str:
    """The Redis counter of ``ident`` (``t<terminal>``, ``u<user>`` or a merchant id) in ``scope`` for one
    fixed window (``int(now // period)``)."""
    return f"ratelimit:{scope}:{ident}:{window}"


def fixed_window_hit(*, scope: str, ident: str, rate: str) -> float | None:
    """Count one request of ``ident`` against ``rate``: None when allowed, else the seconds until the
    window ends. Redis away: allowed (a limit protects capacity, never money)."""
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    key = rate_key(scope, ident, window)
    try:
        pipe = get_redis_connection("default").pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period + 1)
        count = int(pipe.execute()[0])
    except RedisError as exc:
        log.warning("ratelimit.unavailable", error=type(exc).__name__)
        return None
    return (window + 1) * period - now if count > limit else None


TOUCH_KEY = "terminal:touched:{terminal_id}"
TOUCH_INTERVAL_SECONDS = 60


def _idents(request: Request) -> dict[str, str]:
    """The counters a request is charged to: its terminal (or signed-in user) and its merchant."""
    idents: dict[str, str] = {}
    user = request.user
    if isinstance(user, TerminalPrincipal):
        idents["terminal"] = f"t{user.terminal_id}"
    elif user is not None and getattr(user, "is_authenticated", False):
        idents["terminal"] = f"u{user.pk}"
    merchant_id = request_merchant_id(request)
    if merchant_id is not None:
        idents["merchant"] = str(merchant_id)
    return idents


class ApiRateThrottle(BaseThrottle):
    """Per terminal key (or signed-in user, for the web POS) and per merchant across all its terminals.

    Both counters, and the once-a-minute "terminal last used" marker, go to Redis in ONE pipelined
    round trip: a terminal polls every second, so each round trip on this path counts.
    """

    def __init__(self) -> None:
        self._wait: float | None = None
        self.touch_due = False

    def allow_request(self, request: Request, view: Any) -> bool:
        now = time.time()
        windows: list[tuple[int, int, int]] = []  # (limit, period, window) per counter, in pipeline order
        user = request.user
        try:
            pipe = get_redis_connection("default").pipeline(transaction=False)
            for scope, ident in _idents(request).items():
                rate = settings.API_RATE_LIMITS.get(scope)
                if not rate:
                    continue
                limit, period = parse_rate(rate)
                window = int(now // period)
                key = rate_key(scope, ident, window)
                pipe.incr(key)
                pipe.expire(key, period + 1)
                windows.append((limit, period, window))
            if isinstance(user, TerminalPrincipal):
                pipe.set(TOUCH_KEY.format(terminal_id=user.terminal_id), 1, nx=True, ex=TOUCH_INTERVAL_SECONDS)
            if not len(pipe):
                return True
            results = pipe.execute()
        except RedisError as exc:
            log.warning("ratelimit.unavailable", error=type(exc).__name__)
            return True
        # Results come in pipeline order: (INCR, EXPIRE) per counter, then the touch marker's SET NX.
        counts = results[0 : 2 * len(windows) : 2]
        self.touch_due = isinstance(user, TerminalPrincipal) and bool(results[-1])
        waits = [
            (window + 1) * period - now
            for (limit, period, window), count in zip(windows, counts, strict=True)
            if int(count) > limit
        ]
        if waits:
            self._wait = max(waits)
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
