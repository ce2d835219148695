"""Floors: raw Redis and PostgreSQL round trips from this process, and the three floor views
(bench/floor_views.py) served by the stack's web server under the same load as the scenarios."""

from __future__ import annotations

import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg
import redis

from bench.loadgen import LoadSpec
from bench.measure import Measurement, measure
from bench.procs import log
from bench.stack import Stack, pg_dsn

VALUE_400 = b"x" * 400


def _timed_loop(name: str, op: Callable[[int], Any], *, count: int) -> Measurement:
    """One client, one connection, ``count`` sequential operations: latency and ops/s."""
    samples: list[float] = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        op(i)
        samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    samples.sort()
    row = {
        "requests": count,
        "seconds": round(elapsed, 3),
        "rps": count / elapsed,
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": samples[int(len(samples) * 0.99) - 1] * 1000,
        "cpu_ms_per_req": None,
        "queries_per_req": None,
        "error_count": 0,
    }
    return Measurement(name=name, runs=[row], note="1 connection, sequential, from the bench process")


def raw_floors(stack: Stack, *, count: int) -> list[Measurement]:
    out: list[Measurement] = []
    client = redis.Redis.from_url(stack.redis_url)
    client.set("bench:floor:value", VALUE_400, ex=3600)
    out.append(_timed_loop("redis GET 400 B", lambda i: client.get("bench:floor:value"), count=count))
    out.append(
        _timed_loop("redis SET 400 B", lambda i: client.set(f"bench:raw:{i % 1000}", VALUE_400, ex=600), count=count)
    )
    client.close()

    with psycopg.connect(pg_dsn(stack.db_url), autocommit=False) as conn:
        refs: list[str] = []

        def insert(i: int) -> None:
            ref = secrets.token_hex(16)
            refs.append(ref)
            conn.execute(
                "INSERT INTO bench_floor_rows (ref, amount, tip_percent, memo) VALUES (%s, %s, %s, %s)",
                [ref, 1000 + i, 10, "floor"],
            )
            conn.commit()

        out.append(_timed_loop("postgres INSERT+COMMIT", insert, count=count))

        def select(i: int) -> None:
            conn.execute("SELECT id, amount FROM bench_floor_rows WHERE ref = %s", [refs[i % len(refs)]]).fetchone()

        conn.autocommit = True
        out.append(_timed_loop("postgres SELECT by unique key", select, count=count))
    return out


def _constant(spec: LoadSpec) -> Callable[[], LoadSpec]:
    return lambda: spec


REDIS_VIEW = "view: 1 Redis GET"


def view_floors(
    stack: Stack, *, duration: float, connections: int, write_connections: int, runs: int, wrk: str | None,
    skip_redis: bool = False,
) -> dict[str, Measurement]:  # fmt: skip
    """The view floors, except ``REDIS_VIEW`` when ``skip_redis`` (measured later, in alternation with
    hot polling, see ``redis_view_spec``)."""
    body = '{"amount": 1000, "tipPercent": 15, "memo": "floor"}'
    specs = {
        "view: empty": LoadSpec(stack.base_url, "get_many", duration, connections, paths=["/bench/floor/empty"]),
        REDIS_VIEW: redis_view_spec(stack, duration=duration, connections=connections),
        "view: validate+INSERT+SET": LoadSpec(
            stack.base_url, "post", duration, write_connections, path="/bench/floor/write", body=body
        ),
    }
    if skip_redis:
        del specs[REDIS_VIEW]
    results = {}
    for name, spec in specs.items():
        log(f"floor {name}")
        results[name] = measure(name, stack, _constant(spec), runs=runs, wrk=wrk)
    return results


def redis_view_spec(stack: Stack, *, duration: float, connections: int) -> LoadSpec:
    """The "empty view + one Redis GET" floor (its 400-byte value written here)."""
    client = redis.Redis.from_url(stack.redis_url)
    client.set("bench:floor:value", VALUE_400, ex=3600)
    client.close()
    return LoadSpec(stack.base_url, "get_many", duration, connections, paths=["/bench/floor/redis"])


def cores() -> int:
    return os.cpu_count() or 1
