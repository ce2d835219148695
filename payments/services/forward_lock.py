"""The forward's advisory Redis lock, one per payment hash (``lock:payment:<hash>``, TTL'd): it only saves
a second worker the wasted work of a forward another one is running. Correctness never depends on it:
every step of a forward claims its row by status under the PostgreSQL split lock
(payments/services/forwarding.py)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError


def _key(payment_hash: str) -> str:
    return f"lock:payment:{payment_hash}"


def acquire(payment_hash: str) -> str | None:
    """A token when acquired (or "" when Redis is away: PostgreSQL decides anyway); None when another
    worker holds it."""
    token = secrets.token_hex(8)
    try:
        ok = get_redis_connection("hot").set(_key(payment_hash), token, nx=True, ex=settings.CACHE_TTLS["lock"])
    except RedisError:
        return ""
    return token if ok else None


def release(payment_hash: str, token: str) -> None:
    """Release the lock if it is still this token's (it expires on its own otherwise)."""
    if not token:
        return
    try:
        conn = get_redis_connection("hot")
        if conn.get(_key(payment_hash)) == token.encode():
            conn.delete(_key(payment_hash))
    except RedisError:
        pass  # it expires on its own
