"""One round trip for the Redis writes an operation makes after its commit.

A create ends with three small writes, each of which used to be its own round trip: the hot store's
``tip:{hash}`` (``store.put``), the status streams' publish (``status_publish``) and the latency sample
(``metrics.observe_latency``). Inside ``batched()`` those callers queue their commands here instead, and
the block's end sends them in ONE non-transactional pipeline (none needs the others to be atomic with
it): the same commands, keys and order of each caller, only later by the rest of the block.

Each write keeps its own failure handling: ``failed`` is called with the error when the pipeline could
not be sent (every write then failed, as each would have on its own with Redis away) or when one of
its own commands was refused. Nothing here raises: these writes happen after the commit and never fail
the operation.

Only writes to the hot store's Redis are queued (``defer`` returns False for another location, and the
caller writes at once). Writes issued after the block (an outer transaction's on_commit) are not
queued either: ``defer`` only sees an open batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_redis import get_redis_connection
from redis.exceptions import RedisError

# The hot store's alias (payments.store.HOT_ALIAS; not imported: the store queues through this module).
ALIAS = "hot"


@dataclass(frozen=True)
class _Write:
    queue: Callable[[Any], object]  # adds the write's commands to the pipeline
    failed: Callable[[Exception], None]


# Per thread / task (a ContextVar): the web tier's request threads never share a batch.
_BATCH: ContextVar[list[_Write] | None] = ContextVar("redis_write_batch", default=None)


def defer(queue: Callable[[Any], object], failed: Callable[[Exception], None], *, alias: str = ALIAS) -> bool:
    """Queue a write for the open batch: ``queue(pipeline)`` adds its commands when the batch is sent,
    ``failed(error)`` handles its failure. False (nothing queued, the caller writes now) without an open
    batch or when ``alias`` is not the hot store's Redis."""
    batch = _BATCH.get()
    if batch is None:
        return False
    if alias != ALIAS and settings.CACHES[alias]["LOCATION"] != settings.CACHES[ALIAS]["LOCATION"]:
        return False
    batch.append(_Write(queue, failed))
    return True


@contextmanager
def batched() -> Iterator[None]:
    """Send the writes queued in the block in one pipeline at its end (also when the block raises: what
    was queued had committed). Nested: the outermost block sends them."""
    if _BATCH.get() is not None:
        yield
        return
    writes: list[_Write] = []
    token = _BATCH.set(writes)
    try:
        yield
    finally:
        _BATCH.reset(token)
        if writes:
            _send(writes)


def _send(writes: list[_Write]) -> None:
    spans: list[tuple[_Write, int, int]] = []
    try:
        pipe = get_redis_connection(ALIAS).pipeline(transaction=False)
        for write in writes:
            start = len(pipe)
            write.queue(pipe)
            spans.append((write, start, len(pipe)))
        # Errors as values: one write's refused command must not count as the others' failure.
        results = pipe.execute(raise_on_error=False)
    except RedisError as exc:
        for write in writes:
            write.failed(exc)
        return
    for write, start, end in spans:
        error = next((r for r in results[start:end] if isinstance(r, Exception)), None)
        if error is not None:
            write.failed(error)
