"""The command line of ``python -m bench`` (``make bench``) and the knobs it sets (bench/run.py runs them).

Default: three runs of 5 s per point, 64 connections, a 700-delivery webhook burst from 16 senders
(``--burst 5000`` for the issue's size, ``--burst-connections 64`` for a crowd), growth at 10 000 and
5 000 000 historical splits. ``--quick`` uses 2 s runs and small sizes (growth 10 000 and 100 000).
Growth histories are generated once into template databases ``<bench db>_hist_<rows>`` and kept: the
first run on a machine spends ~3-4 minutes building the 5 000 000-row one (see docs/PERFORMANCE.md),
later runs clone it in seconds; ``--rebuild-history`` regenerates them.

``--only streams`` runs the status streams scenario on its own (bench/streams.py): 5 000 open streams
on one web node, memory and idle CPU, commit-to-client latency beside a 1-second poll loop.
``--issue22`` runs only issue 22's parts (bench/issue22.py).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from bench.stack import WebConfig


@dataclass
class Knobs:
    duration: float
    runs: int
    connections: int
    create_connections: int
    invoices: int
    burst: int
    burst_slow: int
    burst_connections: int
    growth_small: int
    growth_large: int
    rebuild_history: bool
    forward_timeout: float
    peer: bool
    peer_install: bool
    keep_db: bool
    worker_nice: int
    web: WebConfig
    issue22_only: bool = False
    tip_sales: int = 30
    only: str | None = None
    streams: int = 5000
    stream_changes: int = 500
    stream_polled: int = 100


def parse(argv: list[str] | None) -> Knobs:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short runs and small sizes (~2-3 minutes)")
    p.add_argument("--duration", type=float, default=None, help="seconds per load run (default 5, quick 2)")
    p.add_argument("--runs", type=int, default=int(env("BENCH_RUNS", "3")), help="runs per point (median reported)")
    p.add_argument("--connections", type=int, default=int(env("BENCH_CONNECTIONS", "64")))
    p.add_argument("--create-connections", type=int, default=int(env("BENCH_CREATE_CONNECTIONS", "16")))
    p.add_argument("--invoices", type=int, default=1000, help="active invoices polled")
    p.add_argument("--burst", type=int, default=None, help="deliveries at 0 ms (default 700, quick 300)")
    p.add_argument("--burst-slow", type=int, default=None, help="deliveries at 100 ms provider (default 66)")
    p.add_argument(
        "--burst-connections",
        type=int,
        default=int(env("BENCH_BURST_CONNECTIONS", "16")),
        help="concurrent webhook senders in the bursts (default 16: the concurrency of a webhook sender such as "
        "Svix retrying a backlog; 64 = the polling clients' count, to load the endpoint like a crowd)",
    )
    p.add_argument("--growth-small", type=int, default=10_000)
    p.add_argument("--growth-rows", type=int, default=None, help="large history size (default 5 000 000)")
    p.add_argument(
        "--rebuild-history", action="store_true", help="regenerate the kept growth history templates (minutes)"
    )
    p.add_argument("--forward-timeout", type=float, default=float(env("BENCH_FORWARD_TIMEOUT", "150")))
    p.add_argument("--no-peer", action="store_true", help="skip LNbits")
    p.add_argument("--no-peer-install", action="store_true", help="use LNbits only if already installed")
    p.add_argument(
        "--keep-db", action="store_true", help="reuse the bench database (growth histories are kept as templates)"
    )
    p.add_argument(
        "--worker-nice",
        type=int,
        default=int(env("BENCH_WORKER_NICE", "10")),
        help="nice level of the Celery workers (default 10: below the web tier, as on a shared host; 0: same)",
    )
    p.add_argument("--workers", type=int, default=int(env("BENCH_WORKERS", "0")), help="web workers (0: 2 x cores)")
    p.add_argument("--only", choices=["streams"], default=None, help="run one scenario on its own (streams)")
    p.add_argument("--streams", type=int, default=5000, help="status streams held open on one node")
    p.add_argument("--stream-changes", type=int, default=500, help="status changes timed over the open streams")
    p.add_argument("--stream-polled", type=int, default=100, help="of those, watched by a 1-second poll loop too")
    p.add_argument("--issue22", action="store_true", help="only issue 22's parts (fair floors, open loop, tip latency)")
    p.add_argument("--tip-sales", type=int, default=int(env("BENCH_TIP_SALES", "30")), help="sales per tip point")
    a = p.parse_args(argv)
    quick = a.quick or env("BENCH_QUICK") == "1"
    return Knobs(
        duration=a.duration or (2.0 if quick else 5.0),
        runs=a.runs,
        connections=a.connections,
        create_connections=a.create_connections,
        invoices=a.invoices if not quick else min(a.invoices, 1000),
        burst=a.burst or (300 if quick else 700),
        burst_slow=a.burst_slow or (50 if quick else 66),
        burst_connections=a.burst_connections,
        growth_small=a.growth_small,
        growth_large=a.growth_rows or int(env("BENCH_GROWTH_ROWS", "0")) or (100_000 if quick else 5_000_000),
        rebuild_history=a.rebuild_history,
        forward_timeout=a.forward_timeout,
        peer=not a.no_peer,
        peer_install=not a.no_peer_install,
        keep_db=a.keep_db,
        worker_nice=max(0, min(19, a.worker_nice)),
        web=WebConfig(workers=a.workers),
        issue22_only=a.issue22,
        tip_sales=a.tip_sales if not quick else min(a.tip_sales, 10),
        only=a.only,
        streams=a.streams,
        stream_changes=min(a.stream_changes, a.streams),
        stream_polled=min(a.stream_polled, a.stream_changes, a.streams),
    )
