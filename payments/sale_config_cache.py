"""Each process's few-seconds memory of a terminal's sale configuration, for the create's fast path only
(payments/api/create_fast.py; issue 22).

Before the sale's own work a create reads the terminal with its merchant and the split profile with its
shares and staff (or one staff member): two SQL reads, ~1 ms of web CPU and ~0.4 ms of PostgreSQL's, for
rows a merchant edits rarely while sales go on all day. Here they are kept per process:

- terminal with merchant by ``(terminal_id, merchant_id)``, profile with shares by ``(merchant_id,
  profile_id)``, staff by ``(merchant_id, staff_id)``;
- each entry tagged with the sale-configuration generation (payments/sale_config.py) that the request's
  one Lua round trip read BEFORE it read PostgreSQL, and a local expiry of
  ``terminal_keys.LOCAL_TTL_SECONDS``;
- a hit needs the request's generation AND an unexpired entry. Since every change commits before it
  sets a new generation, an entry read before a commit carries a generation that request after the
  change no longer sees (the terminal auth record's argument, payments/terminal_keys.py). Without a
  generation (the key is missing: flushed, evicted, never set) nothing is trusted or stored, and the
  key is created for the next request (one extra round trip, once);
- "not found" (an unknown or deactivated profile or staff member: the create's 400) is never kept;
- callers get copies (``_clone``): the objects of one request are never another's, and the merchant's
  ``platform_account`` is never kept: ``sale_accounts.sale_account`` reads it for every sale (its active
  flag and credentials).

The DRF view (``InvoiceCreateApi``) reads PostgreSQL every time (``create_steps.DATABASE_LOOKUPS``,
whose interface ``SaleConfigLookups`` shares): it stays the reference.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model
from django.db.models.base import ModelState

from payments import sale_config, selectors, terminal_keys
from payments.models import Merchant, SplitProfile, SplitProfileShare, Staff, Terminal

T = TypeVar("T")

MAX_ENTRIES = terminal_keys.LOCAL_MAX_ENTRIES
TTL_SECONDS = terminal_keys.LOCAL_TTL_SECONDS
# Loaded per sale, never kept: the platform account's active flag and credentials (sale_accounts).
_NOT_KEPT: dict[type[Model], tuple[str, ...]] = {Merchant: ("platform_account",)}

_now = time.monotonic  # the tests move this clock
# (kind, id, id) -> (generation, monotonic expiry, the loaded objects: never handed out, only copies)
_entries: dict[tuple[str, int, int], tuple[str, float, Any]] = {}
_lock = threading.Lock()

ProfileWithShares = tuple[SplitProfile, list[SplitProfileShare]]


def forget_local() -> None:
    """Drop everything this process keeps (tests; the generation makes it unnecessary in use)."""
    with _lock:
        _entries.clear()


def _clone(obj: Any, memo: dict[int, Any]) -> Any:
    """A copy of a loaded model instance and of the related instances it holds (``select_related``'s
    ``fields_cache``), keeping identities (all shares hold one profile): what ``copy.copy`` of a model
    gives (its ``__dict__``, its ``_state`` with a ``fields_cache`` of its own) at a third of the cost, plus
    copies of list and dict values (``tip_presets``); the other values are immutable."""
    if not isinstance(obj, Model):
        return obj
    found = memo.get(id(obj))
    if found is not None:
        return found
    cls = type(obj)
    clone = cls.__new__(cls)
    memo[id(obj)] = clone
    values = obj.__dict__.copy()
    state = ModelState()
    state.__dict__.update(obj._state.__dict__)
    dropped = _NOT_KEPT.get(cls, ())
    state.fields_cache = {
        name: _clone(value, memo) for name, value in obj._state.fields_cache.items() if name not in dropped
    }
    values["_state"] = state
    for name, value in values.items():
        if isinstance(value, list | dict):
            values[name] = _copy_json(value)
    clone.__dict__.update(values)
    return clone


def _copy_json(value: Any) -> Any:
    """A JSON field's value, copied all the way down (lists, dicts; the rest is immutable)."""
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    return value


def _copy(value: T) -> T:
    memo: dict[int, Any] = {}
    if isinstance(value, tuple):  # (profile, shares)
        return tuple(  # type: ignore[return-value]
            [_clone(v, memo) for v in part] if isinstance(part, list) else _clone(part, memo) for part in value
        )
    return _clone(value, memo)


class SaleConfigLookups:
    """The create's reads for one request, served from this process's memory while ``generation`` (read
    by the request's script before any of them) is current (``create_steps.SaleLookups``)."""

    def __init__(self, generation: str | None) -> None:
        self.generation = generation
        self._generation_asked = False

    def _get(self, key: tuple[str, int, int], load: Callable[[], T | None], keep: Callable[[T], bool]) -> T | None:
        generation = self.generation
        now = _now()
        if generation is not None:
            with _lock:
                entry = _entries.get(key)
            if entry is not None and entry[0] == generation and entry[1] > now:
                return _copy(entry[2])
        value = load()  # read AFTER the generation: see the module docstring
        if value is None or not keep(value):
            return value  # "not found" is never kept
        if generation is None:
            if not self._generation_asked:  # one extra round trip, only while the key is missing
                self._generation_asked = True
                sale_config.ensure_generation()
            return value  # nothing else holds these objects
        with _lock:
            if len(_entries) >= MAX_ENTRIES:
                _entries.clear()
            _entries[key] = (generation, now + TTL_SECONDS, value)
        return _copy(value)

    def terminal_with_merchant(self, *, terminal_id: int, merchant_id: int) -> Terminal | None:
        """``selectors.terminal_with_merchant``; kept only while the terminal is still this merchant's
        (anything else is the create's rare path, read every time)."""
        return self._get(
            ("terminal", terminal_id, merchant_id),
            lambda: selectors.terminal_with_merchant(terminal_id=terminal_id),
            lambda terminal: terminal.merchant_id == merchant_id,
        )

    def staff(self, *, merchant_id: int, staff_id: int) -> Staff | None:
        return self._get(
            ("staff", merchant_id, staff_id),
            lambda: selectors.staff_get_for_merchant(merchant_id=merchant_id, staff_id=staff_id),
            lambda _: True,
        )

    def profile_with_shares(self, *, merchant_id: int, profile_id: int) -> ProfileWithShares | None:
        return self._get(
            ("profile", merchant_id, profile_id),
            lambda: selectors.split_profile_with_shares_for_merchant(merchant_id=merchant_id, profile_id=profile_id),
            lambda _: True,
        )
