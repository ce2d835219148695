"""The hot store: active splits in Redis under ``tip:{paymentHash}`` (docs/ARCHITECTURE.md, Redis keyspace).

PostgreSQL is the truth; Redis only makes a terminal's once-a-second poll cheap. Writes happen after
the PostgreSQL commit (callers use ``transaction.on_commit``). A read that misses, or that meets a
Redis error, answers from PostgreSQL and, on a miss, re-warms the key. Hits, misses and fallbacks are
counted in Redis (``metrics:hotstore:*``) for the metrics job; counts that could not be written while
Redis was away are kept in the process and added on the next successful write.

The value is the split's public status document: amounts, statuses, timestamps and, once the customer
paid, the receipt link's token (the link the terminal shows the customer). It never holds an API key,
a preimage or a bolt11.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, router
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.logging import get_logger
from payments import redis_batch
from payments.models import PaymentEvent, PaymentSplit, SplitStatus
from payments.prepared import values_rows
from payments.receipts.document import RECEIPT_STATUSES

log = get_logger(__name__)

HOT_ALIAS = "hot"
ACTIVE_STATUSES = frozenset({SplitStatus.PENDING, SplitStatus.PAID, SplitStatus.PROCESSING})
COUNTER_KEY = "metrics:hotstore:{name}"
COUNTER_NAMES = ("hits", "misses", "fallbacks")

# Where the last hot-store repair got to (an ISO timestamp, kept in Redis itself: when Redis comes back
# with its old data the mark is old too, so the next repair covers the whole outage; when Redis comes back
# empty the mark is gone, and so is every key that could be stale).
REPAIR_MARK_KEY = "hotstore:repaired_until"
# Transactions commit after their events are stamped: each repair looks this far behind its last mark.
REPAIR_OVERLAP = timedelta(seconds=60)


class HotStoreUnavailable(Exception):
    """Redis did not answer; nothing was marked as repaired."""


_pending_counts: Counter[str] = Counter()
_pending_lock = threading.Lock()


def tip_key(payment_hash: str) -> str:
    return f"tip:{payment_hash}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dec(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def snapshot(split: PaymentSplit) -> dict[str, Any]:
    """The document stored under ``tip:{hash}`` and returned to terminals. No secrets."""
    return {
        "paymentHash": split.payment_hash,
        "merchantId": split.merchant_id,
        "terminalId": split.terminal_id,
        "status": split.status,
        "totalAmount": split.total_amount,
        "baseAmount": split.base_amount,
        "tipAmount": split.tip_amount,
        "tipPercent": _dec(split.tip_percent),
        "tipRecipient": split.tip_recipient,
        "staffId": split.staff_id,
        "splitProfileId": split.split_profile_id,
        "displayCurrency": split.display_currency,
        "baseAmountDisplay": _dec(split.base_amount_display),
        "tipAmountDisplay": _dec(split.tip_amount_display),
        "memo": split.memo,
        "createdAt": _iso(split.created_at),
        "expiresAt": _iso(split.expires_at),
        "paidAt": _iso(split.paid_at),
        "processedAt": _iso(split.processed_at),
        # Only for a paid sale: before that the link would answer 404 anyway.
        "receiptToken": split.receipt_token if split.status in RECEIPT_STATUSES else None,
    }


def ttl_for(split: PaymentSplit) -> int:
    """Seconds to keep the key: at least the configured ``tip`` TTL, long enough to cover the invoice's
    expiry, never more than ``tip_max`` (24 h by default)."""
    ttls = settings.CACHE_TTLS
    until_expiry = int((split.expires_at - timezone.now()).total_seconds()) if split.expires_at else 0
    return max(1, min(max(ttls["tip"], until_expiry), ttls["tip_max"]))


def _count(name: str, client: Any | None = None) -> None:
    """Count a hit/miss/fallback in Redis, carrying counts that failed earlier."""
    with _pending_lock:
        _pending_counts[name] += 1
        pending = dict(_pending_counts)
        _pending_counts.clear()
    try:
        conn = client or get_redis_connection(HOT_ALIAS)
        pipe = conn.pipeline(transaction=False)
        for counter, amount in pending.items():
            pipe.incrby(COUNTER_KEY.format(name=counter), amount)
        pipe.execute()
    except RedisError:
        with _pending_lock:
            _pending_counts.update(pending)


def unflushed_counts() -> dict[str, int]:
    """Counts this process could not write to Redis yet (shown by health, used by tests)."""
    with _pending_lock:
        return dict(_pending_counts)


def read_counters() -> dict[str, int]:
    """Totals as the metrics job sees them (Redis plus this process's unflushed counts)."""
    totals = dict.fromkeys(COUNTER_NAMES, 0)
    try:
        values = get_redis_connection(HOT_ALIAS).mget([COUNTER_KEY.format(name=n) for n in COUNTER_NAMES])
        for name, value in zip(COUNTER_NAMES, values, strict=True):
            totals[name] = int(value or 0)
    except RedisError:
        log.warning("hotstore.counters_unavailable")
    for name, value in unflushed_counts().items():
        totals[name] += value
    return totals


def put(split: PaymentSplit, *, confirm: bool = True) -> bool:
    """Write the split's snapshot. Call after commit. Returns False (and logs) when Redis is away:
    nothing is lost, the next read falls back to PostgreSQL.

    ``confirm=False`` skips the post-write re-read (one SELECT) for a split no one else can have moved
    yet: the create path, whose payment request and hash only leave the server in the response that
    follows this write, so no payment, webhook or cancel can name it before the SET. Such a write is
    queued inside ``redis_batch.batched()`` and sent with the block's other writes (True then means
    queued; a failure is logged when the batch is sent)."""
    key, value, ttl = tip_key(split.payment_hash), json.dumps(snapshot(split)), ttl_for(split)
    if not confirm and redis_batch.defer(
        lambda pipe: pipe.set(key, value, ex=ttl), lambda exc: _put_failed(split.payment_hash, exc)
    ):
        return True
    try:
        get_redis_connection(HOT_ALIAS).set(key, value, ex=ttl)
    except RedisError as exc:
        _put_failed(split.payment_hash, exc)
        return False
    if confirm:
        _confirm_against_postgres(split)
    return True


def _put_failed(payment_hash: str, exc: Exception) -> None:
    log.warning("hotstore.put_failed", payment_hash=payment_hash, error=type(exc).__name__)


def _confirm_against_postgres(written: PaymentSplit) -> None:
    """Close the stale-write race: a newer transition can commit (and run its after-commit evict or put)
    between the moment ``written`` was read and our SET — a re-warming reader, or an on_commit callback
    that ran late. Re-reading the status *after* the write means either we see the newer status here and
    correct the key, or the newer transaction commits after this read and its own sync runs after our
    write. Without this a finished split could be served as "processing" for the whole TTL."""
    if written.pk is None:
        return
    try:
        # The status alone, with a fixed statement (every paid and processing transition runs this):
        # the whole row is read only in the rare case it moved on.
        status = _current_status(written.pk)
        if status is None or status == written.status:
            return
        current = PaymentSplit.objects.filter(pk=written.pk).first()
    except DatabaseError as exc:
        # put runs in on_commit callbacks: after a commit it must not raise; the TTL bounds the staleness
        log.warning("hotstore.confirm_failed", payment_hash=written.payment_hash, error=type(exc).__name__)
        return
    if current is None or current.status == written.status:
        return
    log.info("hotstore.stale_write_corrected", payment_hash=written.payment_hash, status=current.status)
    if current.status in ACTIVE_STATUSES:
        # the newer snapshot; its own confirmation re-checks once more
        put(current)
    else:
        evict(current.payment_hash)


def _status_of(split_id: int) -> QuerySet[PaymentSplit, tuple[str]]:
    return PaymentSplit.objects.filter(pk=split_id).values_list("status")


def _current_status(split_id: int) -> str | None:
    rows = values_rows("split_status", _status_of, split_id, using=router.db_for_read(PaymentSplit))
    return str(rows[0][0]) if rows else None


def sync(split: PaymentSplit) -> None:
    """After a state change: keep active splits hot, evict finished ones."""
    if split.status in ACTIVE_STATUSES:
        put(split)
    else:
        evict(split.payment_hash)


def evict(payment_hash: str) -> bool:
    try:
        get_redis_connection(HOT_ALIAS).delete(tip_key(payment_hash))
    except RedisError as exc:
        log.warning("hotstore.evict_failed", payment_hash=payment_hash, error=type(exc).__name__)
        return False
    return True


def get(payment_hash: str) -> dict[str, Any] | None:
    """The split's status document, from Redis when hot, else from PostgreSQL (re-warming the key)."""
    client = None
    try:
        client = get_redis_connection(HOT_ALIAS)
        raw = client.get(tip_key(payment_hash))
    except RedisError as exc:
        log.warning("hotstore.fallback", payment_hash=payment_hash, error=type(exc).__name__)
        _count("fallbacks")
        split = PaymentSplit.objects.filter(payment_hash=payment_hash).first()
        return snapshot(split) if split else None
    if raw is not None:
        _count("hits", client)
        return json.loads(raw)
    _count("misses", client)
    split = PaymentSplit.objects.filter(payment_hash=payment_hash).first()
    if split is None:
        return None
    if split.status in ACTIVE_STATUSES:
        put(split)
    return snapshot(split)


def repair_recent(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Correct the hot copies of splits whose state changed since the last repair; returns how many.

    A transition's after-commit ``sync`` fails quietly when Redis is away; if Redis then comes back with
    its old data (its append-only file), a finished sale would be served as "paid" to polling terminals
    until the key's TTL. This pass (beat) re-reads every split with an audit event since the last mark and
    fixes a copy that differs: a finished split's key is deleted, an active one's rewritten. A missing key
    is left missing (the next read warms it). Raises ``HotStoreUnavailable`` without moving the mark when
    Redis is still away.
    """
    now = now or timezone.now()
    try:
        client = get_redis_connection(HOT_ALIAS)
        raw_mark = client.get(REPAIR_MARK_KEY)
    except RedisError as exc:
        raise HotStoreUnavailable(type(exc).__name__) from exc
    mark = parse_datetime(raw_mark.decode()) if raw_mark else None
    since = mark - REPAIR_OVERLAP if mark else now - timedelta(seconds=settings.CACHE_TTLS["tip_max"])
    hashes = list(
        PaymentEvent.objects.filter(timestamp__gte=since, timestamp__lte=now)
        .values_list("split_id", flat=True)
        .distinct()
    )
    corrected = 0
    for start in range(0, len(hashes), batch_size):
        splits = list(PaymentSplit.objects.filter(payment_hash__in=hashes[start : start + batch_size]))
        try:
            copies = client.mget([tip_key(split.payment_hash) for split in splits]) if splits else []
        except RedisError as exc:
            raise HotStoreUnavailable(type(exc).__name__) from exc
        for split, raw in zip(splits, copies, strict=True):
            if raw is None:
                continue
            if split.status not in ACTIVE_STATUSES:
                fixed = evict(split.payment_hash)
            elif json.loads(raw) != json.loads(json.dumps(snapshot(split))):
                fixed = put(split)
            else:
                continue
            if not fixed:
                raise HotStoreUnavailable("write failed")
            corrected += 1
    try:
        client.set(REPAIR_MARK_KEY, now.isoformat())
    except RedisError as exc:
        raise HotStoreUnavailable(type(exc).__name__) from exc
    if corrected:
        log.info("hotstore.repaired", corrected=corrected, examined=len(hashes))
    return corrected
