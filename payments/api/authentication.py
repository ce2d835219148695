"""Terminal authentication: ``Authorization: Api-Key <key>``.

The key's format, its hash and the cached lookup record behind its prefix live in
``payments.terminal_keys``; this module turns a matching, unrevoked record into the request's
principal, or answers 401.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, TypeGuard

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from payments import terminal_keys

KEY_SCHEME = "Api-Key"


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


@dataclass(frozen=True, kw_only=True)
class Remembered:
    """A terminal this process remembers, and the auth generation its record was read under (valid
    only while it is still Redis's current one: the fast path checks that in its Lua script)."""

    principal: TerminalPrincipal
    prefix: str
    generation: str


def _key_matches(record: dict[str, Any] | None, key: str) -> TypeGuard[dict[str, Any]]:
    """A record for an unrevoked terminal whose key hashes to the stored digest (constant time)."""
    return (
        record is not None
        and not record["revoked"]
        and hmac.compare_digest(record["key_hash"], terminal_keys.hash_key(key))
    )


def _valid(record: dict[str, Any] | None, key: str) -> TypeGuard[dict[str, Any]]:
    """A matching key of an active merchant's terminal."""
    return _key_matches(record, key) and record.get("merchant_active") is True


def authenticate_remembered(key: str) -> Remembered | None:
    """The terminal behind ``key`` when this process remembers its record and the key matches; None
    otherwise (not remembered, expired, unknown, revoked, deactivated or wrong key). Never touches
    Redis or PostgreSQL: the status poll's fast path (status_fast) uses it, checks the generation in
    its script, and hands every None to the regular DRF path, which does the full lookup and answers
    (and counts) a 401 exactly as before."""
    prefix = terminal_keys.parse_prefix(key)
    if prefix is None:
        return None
    record = terminal_keys.remembered(prefix)
    if not _valid(record, key):
        return None
    return Remembered(
        principal=TerminalPrincipal(terminal_id=record["id"], merchant_id=record["merchant_id"]),
        prefix=prefix,
        generation=str(record.get("generation", "")),
    )


class TerminalKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TerminalPrincipal, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme != KEY_SCHEME:
            return None
        key = key.strip()
        prefix = terminal_keys.parse_prefix(key)
        record = terminal_keys.lookup(prefix) if prefix else None
        if not _key_matches(record, key):
            raise exceptions.AuthenticationFailed("Invalid or revoked terminal API key.")
        if record.get("merchant_active") is not True:
            # The right key of a deactivated merchant: refused before any view runs (403, not counted
            # as a guessed key).
            raise exceptions.PermissionDenied("This account has no active merchant.")
        return TerminalPrincipal(terminal_id=record["id"], merchant_id=record["merchant_id"]), key

    def authenticate_header(self, request: Request) -> str:
        return KEY_SCHEME
