"""Read replicas: reports, charts, statistics and exports may read from a replica; nothing else does.

``DATABASE_REPLICA_URLS`` (settings) adds one alias per replica (``replica1``, ``replica2``, …). Reads
go to the primary unless the code asked for a replica explicitly with ``replica_reads()`` (or the
``reads_from_replica`` view decorator): a replica lags, and a stale read must never decide anything
(a status transition, a cap, an idempotency check, a permission). So the default is the primary, and
only pages that merely show figures opt in.

A replica is skipped while its replay lag exceeds ``REPLICA_MAX_LAG_SECONDS`` or while it cannot be
reached; the lag is measured at most every ``REPLICA_LAG_CHECK_SECONDS`` per process and alias, so the
probe costs one query per interval, not one per read. Inside a transaction on the primary the reads
stay on the primary (a request that wrote something reads it back).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections, transaction

from blinkpos.logging import get_logger

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

REPLICA_ALIAS_PREFIX = "replica"

# Seconds behind the primary. On a standby whose received WAL is all replayed the lag is 0 whatever
# the last replay timestamp says (an idle primary writes nothing, and the timestamp would grow).
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
END
"""

_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


@dataclass
class _LagReading:
    lag_seconds: float  # inf: unreachable
    measured_at: float  # time.monotonic()


_lag_cache: dict[str, _LagReading] = {}
_round_robin = itertools.count()


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_ALIAS_PREFIX)]


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads in this block may be served by a healthy replica (figures to show, never to decide)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def reads_from_replica(view: Callable[P, R]) -> Callable[P, R]:
    """View decorator: the whole view reads through ``replica_reads()``. For report-like views only."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with replica_reads():
            return view(*args, **kwargs)

    # functools.wraps copies __dict__, so the mark survives the decorators stacked above this one.
    wrapped.reads_from_replica = True  # type: ignore[attr-defined]
    return wrapped


def measure_lag(alias: str) -> float:
    """The replica's replay lag in seconds; ``inf`` when it cannot be asked."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            row = cursor.fetchone()
    except DatabaseError as exc:
        log.warning("db.replica_unreachable", alias=alias, error=type(exc).__name__)
        return float("inf")
    return float(row[0]) if row and row[0] is not None else float("inf")


def replica_lag(alias: str, *, now: float | None = None) -> float:
    """The cached lag of ``alias``, measured again once the reading is older than the check interval."""
    current = time.monotonic() if now is None else now
    reading = _lag_cache.get(alias)
    if reading is None or current - reading.measured_at >= settings.REPLICA_LAG_CHECK_SECONDS:
        reading = _LagReading(lag_seconds=measure_lag(alias), measured_at=current)
        _lag_cache[alias] = reading
        if reading.lag_seconds > settings.REPLICA_MAX_LAG_SECONDS:
            log.warning("db.replica_skipped", alias=alias, lag_seconds=reading.lag_seconds)
    return reading.lag_seconds


def healthy_replica() -> str | None:
    """A replica within the lag limit (round-robin among the healthy ones), or None."""
    aliases = replica_aliases()
    if not aliases:
        return None
    start = next(_round_robin)
    for offset in range(len(aliases)):
        alias = aliases[(start + offset) % len(aliases)]
        if replica_lag(alias) <= settings.REPLICA_MAX_LAG_SECONDS:
            return alias
    return None


def read_alias() -> str:
    """The alias a read issued here should use: a healthy replica inside ``replica_reads()`` (and
    outside a transaction on the primary), else the primary. For raw SQL, which routers never see."""
    if not _replica_reads.get() or transaction.get_connection("default").in_atomic_block:
        return "default"
    return healthy_replica() or "default"


def forget_lag_readings() -> None:
    """Drop cached lag readings (tests; an operator's shell after a failover)."""
    _lag_cache.clear()


class ReplicaRouter:
    """Django database router: writes, migrations and undecorated reads on the primary."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Every alias holds the same data (replicas replay the primary).
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == "default"
