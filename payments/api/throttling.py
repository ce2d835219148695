"""Rate limits per terminal and per merchant, counted in Redis (``ratelimit:{scope}:{ident}:{window}``).

A fixed-window counter: one ``INCR`` + ``EXPIRE`` per request in a pipeline (DRF's built-in throttle
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

log = get_logger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` → (600, 60)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class RedisWindowThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = settings.API_RATE_LIMITS.get(self.scope)
        ident = self.ident(request)
        if not rate or ident is None:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"ratelimit:{self.scope}:{ident}:{window}"
        try:
            pipe = get_redis_connection("default").pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, period + 1)
            count = int(pipe.execute()[0])
        except RedisError as exc:
            log.warning("ratelimit.unavailable", scope=self.scope, error=type(exc).__name__)
            return True
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class TerminalRateThrottle(RedisWindowThrottle):
    """Per terminal key (or per signed-in user, for the web POS)."""

    scope = "terminal"

    def ident(self, request: Request) -> str | None:
        user = request.user
        if isinstance(user, TerminalPrincipal):
            return f"t{user.terminal_id}"
        if user is not None and getattr(user, "is_authenticated", False):
            return f"u{user.pk}"
        return None


class MerchantRateThrottle(RedisWindowThrottle):
    """Per merchant, across all its terminals and users."""

    scope = "merchant"

    def ident(self, request: Request) -> str | None:
        from payments.api.common import request_merchant_id  # common imports this module

        merchant_id = request_merchant_id(request)
        return str(merchant_id) if merchant_id is not None else None
