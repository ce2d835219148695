"""The Redis page's reads and its two actions (replaces redis-commander).

Keys are found with ``SCAN`` (never ``KEYS``, which blocks the server while it walks everything), up to
``SCAN_LIMIT`` keys per page view; the page says when the bound was hit, so counts are then lower
bounds. Values are shown masked (``console.masking``). The actions act on one ``tip:{hash}`` key
through the hot store itself (``payments.store``), so what is written is exactly what the app writes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django_redis import get_redis_connection

from console.masking import MASK, mask_raw
from payments import store
from payments.models import PaymentSplit

SCAN_LIMIT = 5000
SCAN_BATCH = 500
VALUE_PREVIEW_LIMIT = 20_000  # characters of a value shown; the rest is cut
COLLECTION_PREVIEW = 50  # members of a list/set/hash/zset shown

# Families of keys, first match wins (docs/ARCHITECTURE.md, Redis keyspace).
PREFIXES: tuple[tuple[str, str], ...] = (
    ("tip:", "active splits (hot store)"),
    ("lock:payment:", "forwarding locks"),
    ("ratelimit:", "rate-limit and failed sign-in counters"),
    ("terminal:", "terminal key records and auth generation"),
    ("sale:", "sale-configuration generation"),
    ("provider:", "provider blocks (Blink rate limits)"),
    ("hotstore:", "hot-store repair mark"),
    ("metrics:", "hot-store counters"),
    ("price:", "cached BTC prices"),
    ("lnurlp:", "resolved Lightning addresses"),
    ("stats:", "cached statistics"),
    ("django.contrib.sessions", "sessions (cache-backed)"),
    ("_kombu.", "Celery: queue bindings"),
    ("unacked", "Celery: messages being worked on"),
    ("celery", "Celery: queues and task metadata"),
)
OTHER = "(other)"
TTL_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("no expiry", None),
    ("< 1 min", 60),
    ("< 15 min", 15 * 60),
    ("< 1 h", 60 * 60),
    ("< 24 h", 24 * 60 * 60),
    ("≥ 24 h", -1),
)
_TIP_KEY = re.compile(r"^tip:([0-9a-f]{64})$")


def _client() -> Any:
    return get_redis_connection(store.HOT_ALIAS)


def family(key: str) -> str:
    for prefix, _ in PREFIXES:
        if key.startswith(prefix):
            return prefix
    return OTHER


def ttl_bucket(ttl: int) -> str:
    if ttl < 0:
        return "no expiry"
    for name, bound in TTL_BUCKETS[1:-1]:
        if bound is not None and ttl < bound:
            return name
    return "≥ 24 h"


@dataclass
class PrefixCount:
    prefix: str
    meaning: str
    count: int = 0
    ttls: dict[str, int] = field(default_factory=dict)


@dataclass
class KeySurvey:
    scanned: int
    limit: int
    truncated: bool  # the bound was hit before SCAN finished: counts are lower bounds
    dbsize: int
    families: list[PrefixCount]


def survey(*, limit: int | None = None, match: str | None = None) -> KeySurvey:
    """Counts and TTL buckets per key family, from at most ``limit`` (``SCAN_LIMIT``) keys found by SCAN."""
    limit = SCAN_LIMIT if limit is None else limit
    client = _client()
    meanings = dict(PREFIXES)
    meanings[OTHER] = "anything else"
    found: dict[str, PrefixCount] = {}
    scanned = 0
    cursor = 0
    truncated = False
    while True:
        cursor, keys = client.scan(cursor=cursor, match=match, count=SCAN_BATCH)
        room = max(0, limit - scanned)
        if len(keys) > room:
            keys, truncated = keys[:room], True
        if keys:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.ttl(key)
            ttls = pipe.execute()
            for raw, ttl in zip(keys, ttls, strict=True):
                name = family(raw.decode(errors="replace"))
                entry = found.setdefault(name, PrefixCount(prefix=name, meaning=meanings[name]))
                entry.count += 1
                bucket = ttl_bucket(int(ttl))
                entry.ttls[bucket] = entry.ttls.get(bucket, 0) + 1
            scanned += len(keys)
        if cursor == 0 or truncated:
            break
        if scanned >= limit:
            # the bound is reached with the walk unfinished: more keys may exist
            truncated = True
            break
    order = [p for p, _ in PREFIXES] + [OTHER]
    families = sorted(found.values(), key=lambda f: order.index(f.prefix))
    return KeySurvey(scanned=scanned, limit=limit, truncated=truncated, dbsize=int(client.dbsize()), families=families)


def server_info() -> dict[str, Any]:
    """Memory, keyspace hits and misses (the server's own ratio) and the hot store's counted ratio."""
    client = _client()
    memory = client.info("memory")
    stats = client.info("stats")
    server = client.info("server")
    hits, misses = int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))
    counters = store.read_counters()
    lookups = counters["hits"] + counters["misses"] + counters["fallbacks"]
    maxmemory = int(memory.get("maxmemory", 0))
    used = int(memory.get("used_memory", 0))
    return {
        "version": server.get("redis_version"),
        "used_memory_human": memory.get("used_memory_human"),
        "used_memory_peak_human": memory.get("used_memory_peak_human"),
        "maxmemory_human": memory.get("maxmemory_human") if maxmemory else "no limit",
        "usage_percent": round(100 * used / maxmemory, 1) if maxmemory else None,
        "eviction_policy": memory.get("maxmemory_policy"),
        "keyspace_hit_percent": round(100 * hits / (hits + misses), 1) if hits + misses else None,
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "hot_store": counters,
        "hot_store_hit_percent": round(100 * counters["hits"] / lookups, 1) if lookups else None,
        "evicted_keys": int(stats.get("evicted_keys", 0)),
    }


@dataclass
class KeyView:
    key: str
    exists: bool
    type: str = ""
    ttl: int | None = None  # seconds; None: no expiry
    value: str = ""  # masked, cut to VALUE_PREVIEW_LIMIT
    length: int | None = None  # members of a collection
    payment_hash: str | None = None  # set for tip:{hash}: the page links to the split and offers the actions
    split_id: int | None = None


def lookup(key: str) -> KeyView:
    """One key: its type, TTL and masked value (a preview of a collection's members)."""
    client = _client()
    kind = client.type(key).decode()
    if kind == "none":
        view = KeyView(key=key, exists=False)
    else:
        ttl = int(client.ttl(key))
        view = KeyView(key=key, exists=True, type=kind, ttl=ttl if ttl >= 0 else None)
        view.value, view.length = _read(client, key, kind)
    match = _TIP_KEY.match(key)
    if match:
        view.payment_hash = match.group(1)
        view.split_id = PaymentSplit.objects.filter(payment_hash=view.payment_hash).values_list("id", flat=True).first()
    return view


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _read(client: Any, key: str, kind: str) -> tuple[str, int | None]:
    if kind == "string":
        raw = client.getrange(key, 0, VALUE_PREVIEW_LIMIT - 1)
        return mask_raw(_text(raw), key=key), None
    if kind == "list":
        items = [_text(v) for v in client.lrange(key, 0, COLLECTION_PREVIEW - 1)]
        return _members(key, items), int(client.llen(key))
    if kind == "set":
        _, members = client.sscan(key, 0, count=COLLECTION_PREVIEW)
        return _members(key, [_text(v) for v in members[:COLLECTION_PREVIEW]]), int(client.scard(key))
    if kind == "zset":
        pairs = client.zrange(key, 0, COLLECTION_PREVIEW - 1, withscores=True)
        return _members(key, [f"{_text(m)} ({s})" for m, s in pairs]), int(client.zcard(key))
    if kind == "hash":
        _, fields = client.hscan(key, 0, count=COLLECTION_PREVIEW)
        shown = {_text(k): _text(v) for k, v in list(fields.items())[:COLLECTION_PREVIEW]}
        return mask_raw(json.dumps(shown), key=key), int(client.hlen(key))
    return f"({kind}: not shown)", None


def _members(key: str, items: list[str]) -> str:
    masked = [mask_raw(item, key=key) for item in items]
    return "\n".join(masked)[:VALUE_PREVIEW_LIMIT] if masked else "(empty)"


class NotAHotKey(ValueError):
    """The key named is not ``tip:{64 hex}``: the actions only touch hot-store keys."""


def payment_hash_of(key: str) -> str:
    match = _TIP_KEY.match(key.strip())
    if not match:
        raise NotAHotKey("key: only a hot-store key tip:{payment hash} (64 hex) can be evicted or re-warmed")
    return match.group(1)


def evict(key: str) -> bool:
    """Delete one hot key through the hot store (the next read falls back to PostgreSQL and re-warms)."""
    return store.evict(payment_hash_of(key))


def rewarm(key: str) -> str:
    """Rewrite one hot key from PostgreSQL as the app would after a state change: an active split is
    written (with its TTL), a finished one is evicted, an unknown one is left alone. Returns what
    happened: "written", "evicted (finished split)" or "no such split"."""
    payment_hash = payment_hash_of(key)
    split = PaymentSplit.objects.filter(payment_hash=payment_hash).first()
    if split is None:
        return "no such split"
    if split.status in store.ACTIVE_STATUSES:
        if not store.put(split):
            raise ConnectionError("Redis did not accept the write")
        return "written"
    store.evict(payment_hash)
    return "evicted (finished split)"


__all__ = ["MASK", "KeySurvey", "KeyView", "NotAHotKey", "evict", "lookup", "rewarm", "server_info", "survey"]
