"""Terminal authentication: ``Authorization: Api-Key <key>``.

Keys look like ``bpos_<prefix>_<secret>``. Only the prefix (for lookup) and a SHA-256 digest of the
whole key are stored. A terminal's lookup record is cached in Redis for a minute, and in each process
for 5 s in front of that, so a status poll costs no PostgreSQL query and usually no Redis round trip;
revoking a terminal evicts both copies in the revoking process after commit (see ``forget_local``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from payments.models import Terminal

KEY_SCHEME = "Api-Key"
KEY_PREFIX = "bpos_"
TERMINAL_CACHE_TTL = 60


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_prefix(key: str) -> str | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_PREFIX.rstrip("_") or not parts[1] or not parts[2]:
        return None
    return parts[1]


def terminal_cache_key(prefix: str) -> str:
    return f"terminal:{prefix}"


@dataclass(frozen=True, kw_only=True)
class TerminalPrincipal:
    """What a request authenticated with a terminal key carries as ``request.user``."""

    terminal_id: int
    merchant_id: int
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True

    @property
    def pk(self) -> str:
        return f"terminal:{self.terminal_id}"


# A few seconds of in-process memory in front of the Redis copy: a terminal polls once a second, so
# this saves a Redis round trip on nearly every poll. The price is that a revocation reaches other
# processes up to LOCAL_TTL_SECONDS late (the Redis copy is evicted at once, see terminal_revoke).
LOCAL_TTL_SECONDS = 5.0
LOCAL_MAX_ENTRIES = 10_000
_local: dict[str, tuple[float, dict[str, Any]]] = {}
_local_lock = threading.Lock()


def forget_local(prefix: str | None = None) -> None:
    """Drop this process's memory of one terminal (or of all)."""
    with _local_lock:
        if prefix is None:
            _local.clear()
        else:
            _local.pop(prefix, None)


def _lookup(prefix: str) -> dict[str, Any] | None:
    now = time.monotonic()
    with _local_lock:
        remembered = _local.get(prefix)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    record = _lookup_shared(prefix)
    if record is not None:
        with _local_lock:
            if len(_local) >= LOCAL_MAX_ENTRIES:
                _local.clear()
            _local[prefix] = (now + LOCAL_TTL_SECONDS, record)
    return record


def authenticate_remembered(key: str) -> TerminalPrincipal | None:
    """The terminal behind ``key`` when this process remembers its record and the key matches; None
    otherwise (not remembered, expired, unknown, revoked or wrong key). Never touches Redis or
    PostgreSQL: the status poll's fast path (status_fast) uses it and hands every None to the regular
    DRF path, which does the full lookup and answers (and counts) a 401 exactly as before."""
    prefix = parse_prefix(key)
    if prefix is None:
        return None
    with _local_lock:
        remembered = _local.get(prefix)
    if remembered is None or remembered[0] <= time.monotonic():
        return None
    record = remembered[1]
    if record["revoked"] or not hmac.compare_digest(record["key_hash"], hash_key(key)):
        return None
    return TerminalPrincipal(terminal_id=record["id"], merchant_id=record["merchant_id"])


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


class TerminalKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TerminalPrincipal, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme != KEY_SCHEME:
            return None
        key = key.strip()
        prefix = parse_prefix(key)
        record = _lookup(prefix) if prefix else None
        if record is None or record["revoked"] or not hmac.compare_digest(record["key_hash"], hash_key(key)):
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal API key.")
        return TerminalPrincipal(terminal_id=record["id"], merchant_id=record["merchant_id"]), key

    def authenticate_header(self, request: Request) -> str:
        return KEY_SCHEME
