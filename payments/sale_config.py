"""The sale-configuration generation: a random token in Redis (``sale:configgen``) that changes after
every committed change to a row the create reads before its own work (issue 22).

The create's fast path (payments/api/create_fast.py) keeps each process's copy of the terminal with its
merchant, the split profiles with their shares and staff, and staff members for a few seconds
(payments/sale_config_cache.py), tagged with the generation its one Lua round trip read BEFORE it read
PostgreSQL. The same reasoning as the terminal auth generation (payments/terminal_keys.py): a change
commits FIRST, then sets a new token, so an entry loaded before the commit was stored under a token
that is no longer current and nobody trusts it from the next request on. The token is random, never a
counter: a flushed or evicted key can never come back equal to an old value.

Who sets it:

- ``post_save``/``post_delete`` receivers on ``Merchant``, ``Terminal``, ``Staff``, ``SplitProfile``,
  ``SplitProfileShare`` (and the deletion of a ``TerminalGroup``, whose ``SET_NULL`` rewrites
  terminals' ``group_id`` without signals): connected in ``PaymentsConfig.ready``;
- explicit ``bump_on_commit`` calls where code writes those rows without signals (``bulk_create`` of a
  profile's shares, the recipients check's ``.update()``, the key rotation's ``.update()``).

Writes that need no bump, and why: the terminal's ``last_used_at`` touch (payments/api/common.py, a
queryset ``.update()`` once a minute per terminal, never read by a create) and the payout route record
(payments/services/payout_routes.py ``payout_route_record``: display fields written at every forward,
which the create never reads; a bump there would empty every process's cache at every sale).

A failed bump (Redis down) is logged and never fails the change: the cache's local expiry
(``terminal_keys.LOCAL_TTL_SECONDS``) then bounds how long a process keeps an old copy.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from blinkpos.logging import get_logger
from payments import store
from payments.models import Merchant, SplitProfile, SplitProfileShare, Staff, Terminal, TerminalGroup

log = get_logger(__name__)

GENERATION_KEY = "sale:configgen"

# The rows the create's cached reads load (selectors.terminal_with_merchant,
# split_profile_with_shares_for_merchant, split_profile_get_for_merchant, staff_get_for_merchant).
WATCHED_MODELS: tuple[type[Model], ...] = (Merchant, Terminal, Staff, SplitProfile, SplitProfileShare)
# Saves that touch only these fields change nothing the create reads.
_IGNORED_UPDATES: dict[type[Model], frozenset[str]] = {Terminal: frozenset({"last_used_at"})}


def new_generation() -> str:
    return secrets.token_hex(8)


def bump() -> None:
    """Set a new generation now: every process's cached sale configuration is stale from its next
    request on. Call it after the change committed (``bump_on_commit``)."""
    try:
        get_redis_connection(store.HOT_ALIAS).set(GENERATION_KEY, new_generation())
    except RedisError as exc:
        # The change stands; processes keep their copies until the local expiry (a few seconds).
        log.error("sale_config.generation_not_bumped", error=type(exc).__name__)


def ensure_generation() -> None:
    """Create the generation when it is missing (flushed, evicted, never set), so that the next
    create can cache again; an existing one is left alone."""
    try:
        get_redis_connection(store.HOT_ALIAS).set(GENERATION_KEY, new_generation(), nx=True)
    except RedisError as exc:
        log.warning("sale_config.generation_not_created", error=type(exc).__name__)


class _PendingBump:
    """One transaction's bump: registered with ``on_commit`` for each change, it sets the generation
    once when the commit runs them all."""

    def __init__(self) -> None:
        self.done = False

    def run(self) -> None:
        if not self.done:
            self.done = True
            bump()


_PENDING_ATTR = "_sale_config_pending_bump"


def bump_on_commit(using: str = DEFAULT_DB_ALIAS) -> None:
    """``bump`` after the current transaction commits (at once outside one): one Redis SET per
    transaction however many rows it changes.

    Every change registers a callback (a test's ``captureOnCommitCallbacks`` sees the one its change
    made), so a change that commits has its own even when a rolled-back savepoint dropped an earlier
    one; the callbacks share a ``_PendingBump`` until one of them has run, so a commit sets the
    generation once."""
    connection = connections[using]
    if not connection.in_atomic_block:
        bump()
        return
    pending: _PendingBump | None = getattr(connection, _PENDING_ATTR, None)
    if pending is None or pending.done:
        pending = _PendingBump()
        setattr(connection, _PENDING_ATTR, pending)
    transaction.on_commit(pending.run, using=using, robust=True)


def _changed(sender: type[Model], using: str, update_fields: Any = None, **_: Any) -> None:
    ignored = _IGNORED_UPDATES.get(sender)
    if ignored is not None and update_fields is not None and set(update_fields) <= ignored:
        return
    bump_on_commit(using)


def _deleted(sender: type[Model], using: str, **_: Any) -> None:
    bump_on_commit(using)


def connect() -> None:
    """Connect the receivers (``PaymentsConfig.ready``)."""
    for model in WATCHED_MODELS:
        post_save.connect(_changed, sender=model, dispatch_uid=f"sale_config.saved.{model._meta.label}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"sale_config.deleted.{model._meta.label}")
    post_delete.connect(_deleted, sender=TerminalGroup, dispatch_uid="sale_config.deleted.TerminalGroup")
