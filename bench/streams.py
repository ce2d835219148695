"""The streams scenario: thousands of open invoice status streams on ONE web node.

1. COUNT pending sales are written to the bench database (bench/stream_driver.py seed);
2. the load generator (bench/stream_client.py, its own process, open-file limit raised) opens one
   status stream per sale against the node and holds them;
3. with every stream open and nothing else running: the node's RSS against its RSS before (memory per
   open stream), its CPU over an idle window (keepalives only), its Redis pub/sub subscriptions and
   its PostgreSQL connections;
4. CHANGES of those sales go pending → paid through the product's transition helper, 20 ms apart
   (bench/stream_driver.py change, which records each COMMIT's wall-clock time); the first POLLED of
   them are also watched by a 1-second poll loop, as a polling terminal would. Latency = first sight
   at the client - commit, for the stream and for the poll.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from statistics import median
from typing import Any

import psycopg
import redis

from bench.procs import children_of, log, tree_cpu
from bench.stack import PY, Stack, pg_dsn
from blinkpos.processes import ROOT

IDLE_SECONDS = 10.0
CHANGE_GAP = 0.02


def _tree_status(pid: int, field: str) -> int:
    """Sum of a /proc/<pid>/status field (first number) over ``pid`` and its children."""
    total = 0
    for each in [pid, *children_of(pid)]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its children (the uvicorn supervisor and its workers)."""
    return _tree_status(pid, "VmRSS") * 1024


def tree_threads(pid: int) -> int:
    return _tree_status(pid, "Threads")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _latencies(seen: dict[str, float], committed: dict[str, float]) -> dict[str, float]:
    ms = [(seen[h] - committed[h]) * 1000 for h in seen if h in committed]
    return {
        "count": len(ms),
        "p50_ms": round(median(ms), 1) if ms else float("nan"),
        "p99_ms": round(_quantile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
    }


def _pg_connections(db_url: str) -> int:
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone()
    return int(row[0]) if row else 0


def _pubsub_subscribers(redis_url: str) -> int:
    from urllib.parse import urlsplit

    db = urlsplit(redis_url).path.lstrip("/") or "0"
    client = redis.Redis.from_url(redis_url)
    try:
        return int(dict(client.pubsub_numsub(f"status:changes:{db}")).get(f"status:changes:{db}".encode(), 0))
    finally:
        client.close()


def run(stack: Stack, fx: dict[str, Any], *, count: int, changes: int, polled: int, run_dir: Path) -> dict[str, Any]:
    if stack.web is None:
        raise RuntimeError("the web node is not running")
    work = run_dir / "streams"
    work.mkdir(parents=True, exist_ok=True)
    hashes_file, committed_file, seen_file = work / "hashes.txt", work / "committed.json", work / "seen.json"
    driver = [PY, "-m", "bench.stream_driver"]
    log(f"streams: writing {count} pending sales")
    subprocess.run(
        [*driver, "seed", str(fx["merchant_id"]), str(count), str(hashes_file)], cwd=ROOT, env=stack.env, check=True
    )
    time.sleep(2.0)
    rss_before = tree_rss_bytes(stack.web.pid)
    threads_before = tree_threads(stack.web.pid)
    log(f"streams: opening {count} status streams on one node (web RSS before: {rss_before / 2**20:.0f} MiB)")
    client = subprocess.Popen(
        [PY, "-m", "bench.stream_client", stack.base_url, fx["terminal_key"], str(hashes_file), str(count),
         str(polled), str(changes), str(seen_file)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert client.stdout is not None and client.stdin is not None
        line = client.stdout.readline().split()
        if not line or line[0] != "OPEN":
            raise RuntimeError(f"stream client did not open its streams: {line}")
        opened, failed, open_seconds = int(line[1]), int(line[2]), float(line[3])
        time.sleep(2.0)
        rss_open = tree_rss_bytes(stack.web.pid)
        threads_open = tree_threads(stack.web.pid)
        cpu_before = tree_cpu(stack.web.pid)
        time.sleep(IDLE_SECONDS)
        idle_cpu = (tree_cpu(stack.web.pid) - cpu_before) / IDLE_SECONDS
        subscribers = _pubsub_subscribers(stack.redis_url)
        pg_connections = _pg_connections(stack.db_url)
        log(
            f"streams: {opened} open ({failed} failed) in {open_seconds:.0f}s; RSS {rss_open / 2**20:.0f} MiB; "
            f"idle CPU {idle_cpu * 100:.1f}% of a core; {subscribers} pub/sub subscriptions; "
            f"{pg_connections} PG connections"
        )
        client.stdin.write("GO\n")
        client.stdin.flush()
        time.sleep(1.5)
        log(f"streams: {changes} status changes, {CHANGE_GAP * 1000:.0f} ms apart ({polled} also polled every 1 s)")
        subprocess.run(
            [*driver, "change", str(hashes_file), str(changes), str(CHANGE_GAP), str(committed_file)],
            cwd=ROOT, env=stack.env, check=True,
        )  # fmt: skip
        client.wait(timeout=180)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    committed = json.loads(committed_file.read_text())
    seen = json.loads(seen_file.read_text())
    result = {
        "streams_requested": count,
        "streams_open": opened,
        "streams_failed": failed,
        "open_seconds": open_seconds,
        "web_rss_before_mib": round(rss_before / 2**20, 1),
        "web_rss_open_mib": round(rss_open / 2**20, 1),
        "kib_per_stream": round((rss_open - rss_before) / max(opened, 1) / 1024, 1),
        "idle_cpu_percent_of_core": round(idle_cpu * 100, 2),
        "web_threads_before": threads_before,
        "web_threads_open": threads_open,
        "pubsub_subscriptions": subscribers,
        "pg_connections": pg_connections,
        "changes": len(committed),
        "stream": _latencies(seen["stream_seen"], committed),
        "poll_1s": _latencies(seen["poll_seen"], committed),
    }
    return result


def describe(result: dict[str, Any]) -> list[str]:
    r, s, p = result, result["stream"], result["poll_1s"]
    return [
        f"streams: {r['streams_open']}/{r['streams_requested']} open on one node ({r['streams_failed']} failed, "
        f"opened in {r['open_seconds']:.0f}s), RSS {r['web_rss_before_mib']:.0f} -> {r['web_rss_open_mib']:.0f} MiB "
        f"({r['kib_per_stream']:.1f} KiB per stream), idle CPU {r['idle_cpu_percent_of_core']:.1f}% of a core, "
        f"{r['pubsub_subscriptions']} Redis pub/sub subscriptions, {r['pg_connections']} PostgreSQL connections, "
        f"threads {r['web_threads_before']} -> {r['web_threads_open']}",
        f"commit -> client, {s['count']} changes: stream p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms "
        f"(max {s['max_ms']}); 1-second poll p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms ({p['count']} polled)",
    ]
