"""Blink's account limits as BlinkPOS meets them (docs/ARCHITECTURE.md, Blink: rate limits).

**Invoice creation.** Blink allows 60 invoices per 60 s per creating account, then blocks the account
for 300 s with ``TOO_MANY_REQUEST``, without saying how long. Every customer invoice of a merchant is
created on its platform account (``payments.platform_accounts``), so a block stops every terminal of
that account's merchants at once, and only those. Two guards, both per account and both before any row
is written or Blink is asked:

- the account's own count, kept like Blink's (a window that starts at the first attempt):
  ``provider:invoice_rate:<account>``, ``BLINK_INVOICE_RATE_POINTS`` (or the account's
  ``invoice_rate_points``) per ``BLINK_INVOICE_RATE_WINDOW_SECONDS`` plus a second of margin for the
  request's way to Blink. Past it a create is refused (429, ``Retry-After`` = the window's rest), so
  terminals never run the account into Blink's block;
- the memory of a block Blink imposed anyway (another client of the same key, a limit lower than
  configured): ``provider:blocked:invoice_create:<account>``, expiring when the block should end
  (``BLINK_INVOICE_BLOCK_SECONDS`` or the gateway's ``Retry-After``).

Both are read and the count taken in one script (``invoice_create_admit``: a blocked account's create
is not counted). ``<account>`` is the account's id, or ``default`` for the ``BLINK_*`` settings'
account. Both keys are an optimisation and a signal (metrics alert): without Redis every create asks
Blink, which refuses as before.

**Daily intraledger volume.** Every forward counts against the platform's rolling 24 h volume; past
it Blink answers ``TRANSACTION_RESTRICTED`` and moves nothing. Such a leg waits rather than fails:
it is retried after each wait of ``FORWARD_LIMIT_RETRY_SECONDS`` (the default spans more than a day,
so the window has rolled on), and when those are used up it is left to an operator like any leg that
will not be retried. ``limit_retry_at`` is that schedule; the metrics snapshot alerts while legs wait.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django_redis import get_redis_connection
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentEvent, PaymentLeg
from payments.platform_accounts import account_ids_in_use, account_label

log = get_logger(__name__)

INVOICE_BLOCK_PREFIX = "provider:blocked:invoice_create"
INVOICE_RATE_PREFIX = "provider:invoice_rate"
# Our window outlives Blink's by this much: our count starts just before the request reaches Blink.
INVOICE_RATE_MARGIN_SECONDS = 1
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


def invoice_block_key(account_id: int | None) -> str:
    return f"{INVOICE_BLOCK_PREFIX}:{account_label(account_id)}"


def invoice_rate_key(account_id: int | None) -> str:
    return f"{INVOICE_RATE_PREFIX}:{account_label(account_id)}"


def _remaining(key: str) -> int | None:
    try:
        ttl = get_redis_connection("default").pttl(key)
    except RedisError as exc:
        log.warning("provider_limits.redis_unavailable", error=type(exc).__name__)
        return None
    if ttl is None or ttl <= 0:  # -2: no block, -1: no expiry (never written that way)
        return None
    return max(1, math.ceil(ttl / 1000))


def invoice_block_remaining(account_id: int | None = None) -> int | None:
    """Whole seconds left of a remembered block of the account, None when there is none (or Redis cannot say)."""
    return _remaining(invoice_block_key(account_id))


# KEYS: the account's block, its rate counter. ARGV: the counter's window in seconds.
# {1, block pttl} while a block lasts (nothing counted: a refused create is no attempt at Blink), else
# {0, count, counter pttl} after SET NX EX + INCR (Blink's window: it starts at the first attempt and
# later ones do not extend it). A PTTL of -1 (no expiry) is never written and counts as no block.
_ADMIT_LUA = """
local blocked = redis.call('PTTL', KEYS[1])
if blocked > 0 then
  return {1, blocked}
end
redis.call('SET', KEYS[2], 0, 'EX', ARGV[1], 'NX')
local count = redis.call('INCR', KEYS[2])
return {0, count, redis.call('PTTL', KEYS[2])}
"""
_admit_script: Script | None = None


def _admit(client: Redis, keys: list[str], window: int) -> list[int]:
    global _admit_script  # registered once per process; the SHA does not depend on the client
    if _admit_script is None:
        _admit_script = client.register_script(_ADMIT_LUA)
    return [int(value) for value in _admit_script(keys=keys, args=[window], client=client)]


def invoice_create_admit(*, account_id: int | None, points: int | None = None) -> None:
    """Before the account's provider call: raise ``ProviderRateLimited`` while a remembered block of the
    account lasts (nothing counted), else count one creation attempt and raise past its points.

    One script (one round trip, atomic) for what were a PTTL and a MULTI. Redis unreachable: allowed
    without a count (Blink still guards itself)."""
    limit = points if points is not None else int(getattr(settings, "BLINK_INVOICE_RATE_POINTS", 60))
    window = int(getattr(settings, "BLINK_INVOICE_RATE_WINDOW_SECONDS", 60)) + INVOICE_RATE_MARGIN_SECONDS
    try:
        result = _admit(
            get_redis_connection("default"), [invoice_block_key(account_id), invoice_rate_key(account_id)], window
        )
    except RedisError as exc:
        log.warning("provider_limits.redis_unavailable", error=type(exc).__name__)
        return
    if result[0] == 1:
        raise ProviderRateLimited(retry_after=max(1, math.ceil(result[1] / 1000)))
    count, ttl = result[1], result[2]
    if count > limit:
        retry_after = max(1, math.ceil(ttl / 1000)) if ttl > 0 else window
        log.warning("provider_limits.invoice_rate_reached", account=account_label(account_id), retry_after=retry_after)
        raise ProviderRateLimited(retry_after=retry_after)


def invoice_block_record(*, retry_after: float | None, account_id: int | None = None) -> ProviderRateLimited:
    """Remember Blink's refusal for the account and return the error to raise. The first refusal sets
    the end of the block (SET NX): Blink does not extend a block for the attempts made during it."""
    seconds = max(1, math.ceil(retry_after)) if retry_after else _block_seconds()
    key = invoice_block_key(account_id)
    try:
        get_redis_connection("default").set(key, "1", nx=True, ex=seconds)
    except RedisError as exc:
        log.warning("provider_limits.redis_unavailable", error=type(exc).__name__)
        return ProviderRateLimited(retry_after=seconds)
    log.error("provider_limits.invoice_create_blocked", account=account_label(account_id), retry_after=seconds)
    return ProviderRateLimited(retry_after=invoice_block_remaining(account_id) or seconds)


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

    invoice_block_seconds: int | None  # the longest block of any account
    invoice_blocks: dict[str, int]  # seconds left per blocked account (``default`` or its id)
    legs_waiting_for_limit: int
    legs_given_up_on_limit: int
    # Legs waiting or stopped on the daily limit, per account (the limit is each account's own).
    limited_legs_by_account: dict[str, int] = field(default_factory=dict)


def limit_status() -> LimitStatus:
    restricted = PaymentLeg.objects.filter(status=LegStatus.FAILED, last_error_code__in=sorted(LIMIT_RESTRICTED_CODES))
    blocks = {
        account_label(account_id): remaining
        for account_id in account_ids_in_use()
        if (remaining := invoice_block_remaining(account_id)) is not None
    }
    per_account = restricted.values_list("split__platform_account_id").annotate(n=Count("pk"))
    return LimitStatus(
        limited_legs_by_account={account_label(account_id): n for account_id, n in per_account},
        invoice_block_seconds=max(blocks.values(), default=None),
        invoice_blocks=blocks,
        legs_waiting_for_limit=restricted.filter(next_attempt_at__isnull=False).count(),
        legs_given_up_on_limit=restricted.filter(next_attempt_at__isnull=True).count(),
    )
