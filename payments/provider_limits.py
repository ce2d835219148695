"""Blink's account limits as BlinkPOS meets them (docs/ARCHITECTURE.md, Blink: rate limits).

**Invoice creation.** Blink allows 60 invoices per 60 s per creating account, then blocks the account
for 300 s with ``TOO_MANY_REQUEST``, without saying how long. Every customer invoice is created on the
one platform account, so a block stops every terminal at once. The first refusal is remembered in
Redis (``provider:blocked:invoice_create``, expiring when the block should end: Blink's configured
block, ``BLINK_INVOICE_BLOCK_SECONDS``, or the gateway's ``Retry-After``). Until then a create is
refused before Blink is asked, with ``ProviderRateLimited``: a 429 whose ``Retry-After`` names the
remaining wait. Both refusals happen before any row is written. The key is only an optimisation and a
signal (metrics alert): without Redis every create asks Blink, which refuses as before.

**Daily intraledger volume.** Every forward counts against the platform's rolling 24 h volume; past
it Blink answers ``TRANSACTION_RESTRICTED`` and moves nothing. Such a leg waits rather than fails:
it is retried after each wait of ``FORWARD_LIMIT_RETRY_SECONDS`` (the default spans more than a day,
so the window has rolled on), and when those are used up it is left to an operator like any leg that
will not be retried. ``limit_retry_at`` is that schedule; the metrics snapshot alerts while legs wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentEvent, PaymentLeg

log = get_logger(__name__)

INVOICE_BLOCK_KEY = "provider:blocked:invoice_create"
# Blink's code for a send refused by the account's volume limits (intraledger or withdrawal).
LIMIT_RESTRICTED_CODES = frozenset({"TRANSACTION_RESTRICTED"})
DEFAULT_LIMIT_RETRY_SECONDS = (900, 1800, 3600, 7200, 14400, 28800, 43200)


class ProviderRateLimited(ApplicationError):
    """The platform account may not create invoices for ``retry_after`` seconds; nothing was written."""

    code = "provider_rate_limited"
    http_status = 429
    retry_after: int

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            "The Lightning wallet provider is refusing new invoices for a few minutes (rate limit); "
            f"try again in {retry_after} s.",
            retry_after=retry_after,
        )


def _block_seconds() -> int:
    return int(getattr(settings, "BLINK_INVOICE_BLOCK_SECONDS", 300))


def invoice_block_remaining() -> int | None:
    """Whole seconds left of a remembered block, None when there is none (or Redis cannot say)."""
    try:
        ttl = get_redis_connection("default").pttl(INVOICE_BLOCK_KEY)
    except RedisError as exc:
        log.warning("provider_limits.redis_unavailable", error=type(exc).__name__)
        return None
    if ttl is None or ttl <= 0:  # -2: no block, -1: no expiry (never written that way)
        return None
    return max(1, math.ceil(ttl / 1000))


def invoice_block_check() -> None:
    """Raise ``ProviderRateLimited`` while a remembered block lasts."""
    remaining = invoice_block_remaining()
    if remaining is not None:
        raise ProviderRateLimited(retry_after=remaining)


def invoice_block_record(*, retry_after: float | None) -> ProviderRateLimited:
    """Remember Blink's refusal and return the error to raise. The first refusal sets the end of the
    block (SET NX): Blink does not extend a block for the attempts made during it."""
    seconds = max(1, math.ceil(retry_after)) if retry_after else _block_seconds()
    try:
        get_redis_connection("default").set(INVOICE_BLOCK_KEY, "1", nx=True, ex=seconds)
    except RedisError as exc:
        log.warning("provider_limits.redis_unavailable", error=type(exc).__name__)
        return ProviderRateLimited(retry_after=seconds)
    log.error("provider_limits.invoice_create_blocked", retry_after=seconds)
    return ProviderRateLimited(retry_after=invoice_block_remaining() or seconds)


# --- the daily intraledger limit ------------------------------------------------------------------


def limit_retry_schedule() -> tuple[int, ...]:
    configured = getattr(settings, "FORWARD_LIMIT_RETRY_SECONDS", None)
    return tuple(int(s) for s in configured) if configured else DEFAULT_LIMIT_RETRY_SECONDS


def limit_retry_at(*, leg: PaymentLeg, now: datetime | None = None) -> datetime | None:
    """When a leg Blink just refused for the account's limits is tried again: the next wait of the
    schedule after the refusals already recorded for it, or None when the schedule is used up (an
    operator decides). Called inside the leg's transaction, before this refusal's event is written."""
    earlier = PaymentEvent.objects.filter(
        leg_id=leg.pk, event_type="leg_failed", event_data__error_code__in=sorted(LIMIT_RESTRICTED_CODES)
    ).count()
    schedule = limit_retry_schedule()
    if earlier >= len(schedule):
        return None
    return (now or timezone.now()) + timedelta(seconds=schedule[earlier])


@dataclass(frozen=True, kw_only=True)
class LimitStatus:
    """What the metrics snapshot alerts on."""

    invoice_block_seconds: int | None
    legs_waiting_for_limit: int
    legs_given_up_on_limit: int


def limit_status() -> LimitStatus:
    restricted = PaymentLeg.objects.filter(status=LegStatus.FAILED, last_error_code__in=sorted(LIMIT_RESTRICTED_CODES))
    return LimitStatus(
        invoice_block_seconds=invoice_block_remaining(),
        legs_waiting_for_limit=restricted.filter(next_attempt_at__isnull=False).count(),
        legs_given_up_on_limit=restricted.filter(next_attempt_at__isnull=True).count(),
    )
