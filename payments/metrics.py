"""Latency samples kept in Redis for the metrics job (not a row per event).

Each observation is pushed onto a capped list ``metrics:latency:{name}`` (the newest 2 000 samples);
``snapshot_metrics`` reads the lists and computes p50/p95/p99. Recording never fails a request: a
Redis error is swallowed here because a lost latency sample changes no money and no decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_redis import get_redis_connection
from redis.exceptions import RedisError

from payments import redis_batch

LATENCY_KEY = "metrics:latency:{name}"
MAX_SAMPLES = 2000


def _queue_sample(pipe: Any, key: str, sample: str) -> None:
    pipe.lpush(key, sample)
    pipe.ltrim(key, 0, MAX_SAMPLES - 1)


def _ignore(_exc: Exception) -> None:
    return


def observe_latency(name: str, milliseconds: float) -> None:
    """Push one sample (inside ``redis_batch.batched()``: with the block's other writes)."""
    key, sample = LATENCY_KEY.format(name=name), f"{milliseconds:.3f}"
    if redis_batch.defer(lambda pipe: _queue_sample(pipe, key, sample), _ignore, alias="default"):
        return
    try:
        pipe = get_redis_connection("default").pipeline(transaction=False)
        _queue_sample(pipe, key, sample)
        pipe.execute()
    except RedisError:
        return


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Record the block's wall time under ``name`` (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_latency(name, (time.perf_counter() - started) * 1000)


def latency_samples(name: str) -> list[float]:
    try:
        raw = get_redis_connection("default").lrange(LATENCY_KEY.format(name=name), 0, MAX_SAMPLES - 1)
    except RedisError:
        return []
    return [float(v) for v in raw]


def percentile(samples: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
