"""The live status streams' hook into state changes: after the commit, tell every web process.

Every status change of a split (``transition_split``) and of a refund (``transition_refund``, and the
refund's creation) appends a ``payment_events`` row with a ``to_status`` through ``record_event``, which
calls ``status_change_recorded`` here. One place sees them all, whichever process commits: the web
tier (cancel, check), the workers (detection, forwarding, reconcile, refunds) and beat (expiry). The
webhook's fast acknowledgement (payments/services/webhooks.py) changes no status: its worker does,
through the same path.

The message is published AFTER the PostgreSQL commit (``transaction.on_commit``), so a stream that is
woken always finds the change in PostgreSQL, and carries only ids: the payment hash, the terminal and
the event row's id. No status body, no bolt11, no preimage, no receipt token: each stream reads what it
sends from PostgreSQL (payments/streams/reads.py), under its own tenant check. A lost message (Redis
down) loses nothing: streams re-read PostgreSQL after their listener reconnects, and polling stays the
reference.
"""

from __future__ import annotations

import functools
import json

import redis
from django.conf import settings
from django.db import transaction
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.logging import get_logger
from payments import redis_batch

log = get_logger(__name__)

PUBLISH_ALIAS = "hot"  # errors surface (the plain cache alias would swallow them silently)


def channel() -> str:
    """One channel for every change: each web process subscribes once and routes in memory
    (payments/streams/hub.py). Pub/sub ignores Redis database numbers, so the channel names the
    database: stacks sharing a Redis server on different databases do not hear each other."""
    return f"status:changes:{settings.REDIS_TARGET.db}"


@functools.cache
def _override_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)


def _publisher() -> redis.Redis:
    override = getattr(settings, "STATUS_STREAM_REDIS_URL", "")
    return _override_client(override) if override else get_redis_connection(PUBLISH_ALIAS)


def status_change_recorded(*, payment_hash: str, terminal_id: int | None, event_id: int) -> None:
    """Publish the change after the surrounding transaction commits (immediately when autocommitting)."""
    message = json.dumps({"h": payment_hash, "t": terminal_id, "id": event_id}, separators=(",", ":"))
    transaction.on_commit(lambda: _publish(message, event_id))


def _publish(message: str, event_id: int) -> None:
    # Inside redis_batch.batched() (a create): sent with the block's other writes, unless the streams
    # have a Redis of their own.
    if not getattr(settings, "STATUS_STREAM_REDIS_URL", "") and redis_batch.defer(
        lambda pipe: pipe.publish(channel(), message), lambda exc: _publish_failed(event_id, exc), alias=PUBLISH_ALIAS
    ):
        return
    try:
        _publisher().publish(channel(), message)
    except RedisError as exc:
        _publish_failed(event_id, exc)


def _publish_failed(event_id: int, exc: Exception) -> None:
    # Not an error for the change itself (it is committed); a stream learns it on its next re-read.
    log.warning("status_stream.publish_failed", event_id=event_id, error=exc.__class__.__name__)
