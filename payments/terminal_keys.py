"""Terminal API keys: their format, their hash, and the cached lookup record behind a key's prefix.

Keys look like ``bpos_<8 hex prefix>_<secret>``. Only the prefix (for lookup) and a SHA-256 digest of
the whole key are stored. A terminal's lookup record is cached in Redis for a minute, and in each
process for a few seconds in front of that, so a status poll costs no PostgreSQL query and usually no
Redis round trip. The terminal service issues keys and forgets a revoked terminal's record; the API's
authentication reads the records.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any

from django.core.cache import cache

from payments.models import Terminal

KEY_PREFIX = "bpos_"
TERMINAL_CACHE_TTL = 60

# A few seconds of in-process memory in front of the Redis copy: a terminal polls once a second, so
# this saves a Redis round trip on nearly every poll. The price is that a revocation reaches other
# processes up to LOCAL_TTL_SECONDS late (the Redis copy is evicted at once, see ``forget``).
LOCAL_TTL_SECONDS = 5.0
LOCAL_MAX_ENTRIES = 10_000
_local: dict[str, tuple[float, dict[str, Any]]] = {}
_local_lock = threading.Lock()


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh (prefix, plain key) pair."""
    prefix = secrets.token_hex(4)
    # Underscores separate the key's parts, so the secret must not contain any.
    secret = secrets.token_urlsafe(32).replace("_", "")
    return prefix, f"{KEY_PREFIX}{prefix}_{secret}"


def parse_prefix(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX.rstrip("_") or not parts[1] or not parts[2]:
        return None
    return parts[1]


def terminal_cache_key(prefix: str) -> str:
    return f"terminal:{prefix}"


def forget_local(prefix: str | None = None) -> None:
    """Drop this process's memory of one terminal (or of all)."""
    with _local_lock:
        if prefix is None:
            _local.clear()
        else:
            _local.pop(prefix, None)


def forget(prefix: str) -> None:
    """Drop the shared (Redis) record and this process's copy, e.g. after a revocation committed."""
    cache.delete(terminal_cache_key(prefix))
    forget_local(prefix)


def remembered(prefix: str) -> dict[str, Any] | None:
    """The record this process still remembers for ``prefix``; never touches Redis or PostgreSQL."""
    with _local_lock:
        entry = _local.get(prefix)
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


def lookup(prefix: str) -> dict[str, Any] | None:
    """The record for ``prefix`` (``id``, ``merchant_id``, ``key_hash``, ``revoked``): this process's
    memory, else Redis, else PostgreSQL (re-warming both); None for an unknown prefix."""
    now = time.monotonic()
    with _local_lock:
        entry = _local.get(prefix)
    if entry is not None and entry[0] > now:
        return entry[1]
    record = _lookup_shared(prefix)
    if record is not None:
        with _local_lock:
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
            _local[prefix] = (now + LOCAL_TTL_SECONDS, record)
    return record


def _lookup_shared(prefix: str) -> dict[str, Any] | None:
    record = cache.get(terminal_cache_key(prefix))
    if record is not None:
        return record
    terminal = Terminal.objects.filter(key_prefix=prefix).values("id", "merchant_id", "key_hash", "revoked_at").first()
    if terminal is None:
        return None
    record = {
        "id": terminal["id"],
        "merchant_id": terminal["merchant_id"],
        "key_hash": terminal["key_hash"],
        "revoked": terminal["revoked_at"] is not None,
    }
    cache.set(terminal_cache_key(prefix), record, TERMINAL_CACHE_TTL)
    return record
