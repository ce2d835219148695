"""Terminal API keys: their format, their hash, and the cached lookup record behind a key's prefix.

Keys look like ``bpos_<8 hex prefix>_<secret>``. Only the prefix (for lookup) and a SHA-256 digest of
the whole key are stored. A terminal's lookup record (terminal and merchant ids, key digest, revoked,
merchant active) is cached in Redis for a minute, and in each process for a few seconds in front of
that, so a status poll costs no PostgreSQL query. The terminal service issues keys; revoking a key or
(de)activating a merchant makes every cached record stale at once (``forget``, ``forget_all``).

Why a revocation cannot be outrun (a cached "still valid" record after the revoke committed): every
record carries the **auth generation** it was read under, a random token at ``terminal:authgen``.

- A reader reads the generation (with the cached record, one MGET) BEFORE it reads PostgreSQL, and
  stores what it read under that generation. It trusts a record (Redis's or its own in-process copy)
  only when the record's generation is the current one.
- A revocation commits in PostgreSQL FIRST, then sets a new generation, then deletes the record.

So a record read from PostgreSQL before the commit was stored under a generation that the revocation
has replaced: nobody trusts it any more, in any process that can see Redis, from the next request on.
The status poll's fast path compares the generation inside its single Lua round trip
(payments/api/status_fast.py). Without Redis nothing cached can be checked, so PostgreSQL is read on
every request (a slower poll, never a revoked key accepted). The token is random rather than a
counter so that a flushed or evicted key can never come back equal to an old value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import threading
import time
from typing import Any

from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.logging import get_logger
from payments.models import Terminal

log = get_logger(__name__)

KEY_PREFIX = "bpos_"
TERMINAL_CACHE_TTL = 60
AUTH_GENERATION_KEY = "terminal:authgen"

# A few seconds of in-process memory in front of the Redis copy: it saves the PostgreSQL read and the
# decoding; it is trusted only while its generation is Redis's current one (see the module docstring).
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


def _new_generation() -> str:
    return secrets.token_hex(8)


def _bump_generation() -> None:
    try:
        get_redis_connection("default").set(AUTH_GENERATION_KEY, _new_generation())
    except RedisError as exc:
        # Records cached before this still carry the old generation and expire within a minute; an
        # operator should know a revocation may take that long.
        log.error("terminal_keys.generation_not_bumped", error=type(exc).__name__)


def forget(prefix: str) -> None:
    """After a revocation committed: every cached record is stale from now on (new generation), the
    shared record and this process's copy are dropped."""
    _bump_generation()
    with contextlib.suppress(RedisError):  # stale anyway: its generation is no longer current
        get_redis_connection("default").delete(terminal_cache_key(prefix))
    forget_local(prefix)


def forget_all() -> None:
    """After a merchant was (de)activated: every cached record is stale from now on."""
    _bump_generation()
    forget_local()


def remembered(prefix: str) -> dict[str, Any] | None:
    """The record this process still remembers for ``prefix`` (with the ``generation`` it was read
    under, which the caller must check against Redis); never touches Redis or PostgreSQL."""
    with _local_lock:
        entry = _local.get(prefix)
    if entry is None or entry[0] <= time.monotonic():
        return None
    return entry[1]


def _decode(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None  # not ours (or an older format): read PostgreSQL again
    return record if isinstance(record, dict) else None


def _current(conn: Any, prefix: str) -> tuple[str, dict[str, Any] | None]:
    """(current generation, the shared record) in one round trip; a missing generation is created."""
    raw_generation, raw_record = conn.mget([AUTH_GENERATION_KEY, terminal_cache_key(prefix)])
    if raw_generation is None:
        conn.set(AUTH_GENERATION_KEY, _new_generation(), nx=True)
        raw_generation = conn.get(AUTH_GENERATION_KEY) or b""
    return raw_generation.decode(), _decode(raw_record)


def lookup(prefix: str) -> dict[str, Any] | None:
    """The record for ``prefix`` (``id``, ``merchant_id``, ``key_hash``, ``revoked``,
    ``merchant_active``, ``generation``) valid under the current auth generation: this process's
    memory, else Redis, else PostgreSQL (re-warming both); None for an unknown prefix."""
    now = time.monotonic()
    try:
        conn = get_redis_connection("default")
        generation, shared = _current(conn, prefix)
    except RedisError as exc:
        log.warning("terminal_keys.redis_unavailable", error=type(exc).__name__)
        return _from_database(prefix)  # nothing cached can be checked: trust PostgreSQL only
    local = remembered(prefix)
    if local is not None and local.get("generation") == generation:
        return local
    record = shared if shared is not None and shared.get("generation") == generation else None
    if record is None:
        record = _from_database(prefix)  # read AFTER the generation: see the module docstring
        if record is None:
            return None
        record["generation"] = generation
        with contextlib.suppress(RedisError):
            conn.set(terminal_cache_key(prefix), json.dumps(record), ex=TERMINAL_CACHE_TTL)
    with _local_lock:
        if len(_local) >= LOCAL_MAX_ENTRIES:
            _local.clear()
        _local[prefix] = (now + LOCAL_TTL_SECONDS, record)
    return record


def _from_database(prefix: str) -> dict[str, Any] | None:
    terminal = (
        Terminal.objects.filter(key_prefix=prefix)
        .values("id", "merchant_id", "key_hash", "revoked_at", "merchant__is_active")
        .first()
    )
    if terminal is None:
        return None
    return {
        "id": terminal["id"],
        "merchant_id": terminal["merchant_id"],
        "key_hash": terminal["key_hash"],
        "revoked": terminal["revoked_at"] is not None,
        "merchant_active": bool(terminal["merchant__is_active"]),
    }
