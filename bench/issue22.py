"""Issue 22's parts of the bench: fair floors in the same run, latency at a stated (open-loop) load,
and paid -> staff has the tip. ``python -m bench --issue22`` runs only these (plus the LNbits peer);
a full ``make bench`` runs them after the webhook bursts.

1. Create vs the create floor WITH the provider call (``bench/floor_create.py``), in alternation
   (floor run 1, create run 1, ...); hot polling beside the Django "1 Redis GET" view and a bare WSGI
   app doing the same GET (``bench/wsgi_floor.py``), in alternation too.
2. Capacities (closed loop, the figures above; the webhook acknowledgement from a burst of distinct
   deliveries) and open-loop runs (``bench/openloop.py``) at 25/50/75 % of the acknowledgement capacity
   with forwarding running, and at 50 % for hot polling and create.
3. Paid -> staff has the tip, 1 and 4 legs, 0 and 100 ms provider latency (``bench/tipflow.py``).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from typing import Any

import psycopg
from svix.webhooks import Webhook

from bench import api, floors, issue22_report, scenarios, tipflow, wsgi_floor
from bench.loadgen import LoadSpec
from bench.measure import Measurement, measure_once, quiesce, run_once
from bench.openloop import OpenSpec, run_open
from bench.procs import log, tree_cpu
from bench.stack import BENCH_WEBHOOK_SECRET, Stack, WebConfig, pg_dsn

CREATE_FLOOR = "view: validate+Blink call+split/3 legs/event+SET"
WSGI_FLOOR = "bare WSGI + 1 Redis GET (no Django)"
ACK_SHARES = (0.25, 0.50, 0.75)


def create_tables(db_url: str) -> None:
    """The floor's own tables (a split, its legs, its events), in the bench database only."""
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor_splits (id bigserial PRIMARY KEY, payment_hash text NOT NULL "
            "UNIQUE, amount bigint NOT NULL, tip bigint NOT NULL, status text NOT NULL, memo text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now());"
            "CREATE TABLE IF NOT EXISTS bench_floor_legs (id bigserial PRIMARY KEY, split_id bigint NOT NULL "
            "REFERENCES bench_floor_splits (id), kind text NOT NULL, amount bigint NOT NULL, status text NOT NULL);"
            "CREATE INDEX IF NOT EXISTS bench_floor_legs_split ON bench_floor_legs (split_id);"
            "CREATE TABLE IF NOT EXISTS bench_floor_events (id bigserial PRIMARY KEY, split_id bigint NOT NULL "
            "REFERENCES bench_floor_splits (id), event_type text NOT NULL, data jsonb NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )


def _create_floor_spec(stack: Stack, fx: dict[str, Any], *, duration: float, connections: int) -> LoadSpec:
    return LoadSpec(stack.base_url, "post", duration, connections, path="/bench/floor/create", body=api.create_body(fx))


def fair_create(
    stack: Stack, fx: dict[str, Any], *, duration: float, connections: int, runs: int, wrk: str | None
) -> tuple[Measurement, Measurement]:
    """The create floor with the provider call and the real create, measured in alternation."""
    floor = Measurement(name=CREATE_FLOOR)
    create = Measurement(name="create invoice (0 ms provider, paired with its floor)")
    for index in range(runs):
        measure_once(floor, stack, _create_floor_spec(stack, fx, duration=duration, connections=connections),
                     index=index, runs=runs, wrk=wrk)  # fmt: skip
        measure_once(create, stack, scenarios.create_spec(stack, fx, duration=duration, connections=connections),
                     index=index, runs=runs, wrk=wrk)  # fmt: skip
    return floor, create


def poll_floors(
    stack: Stack, fx: dict[str, Any], hashes: list[str], config: WebConfig, *, duration: float,
    connections: int, runs: int, wrk: str | None,
) -> tuple[Measurement, Measurement, Measurement]:  # fmt: skip
    """Bare WSGI floor, the Django "1 Redis GET" floor and hot polling, in alternation."""
    redis_spec = floors.redis_view_spec(stack, duration=duration, connections=connections)
    process, url = wsgi_floor.start(stack, config)
    bare = Measurement(name=WSGI_FLOOR)
    django = Measurement(name=floors.REDIS_VIEW)
    hot = Measurement(name="status polling hot (paired with both floors)")
    try:
        for index in range(runs):
            spec = LoadSpec(url, "get_many", duration, connections, paths=["/"])
            measure_once(bare, stack, spec, index=index, runs=runs, wrk=wrk, cpu=lambda: tree_cpu(process.pid))
            measure_once(django, stack, redis_spec, index=index, runs=runs, wrk=wrk)
            poll = scenarios.polling_spec(stack, fx, hashes, duration=duration, connections=connections)
            measure_once(hot, stack, poll, index=index, runs=runs, wrk=wrk)
    finally:
        stack.launcher.stop_process("wsgi-floor")
    return bare, django, hot


def _fresh(bodies: list[str], count: int) -> list[tuple[str, str, str, str]]:
    """``count`` deliveries with fresh svix-ids for already-announced payments (signed now): the
    acknowledgement verifies, classifies and records each; the sale is past detection, so the one
    INSERT records it ``already_handled`` and nothing is published (the worker's share of the load is
    the real payments' forwards, ``_with_real``)."""
    signer = Webhook(BENCH_WEBHOOK_SECRET)
    now = datetime.now(UTC)
    stamp = str(int(now.timestamp()))
    out = []
    for i in range(count):
        svix_id = f"msg_bench22{secrets.token_hex(8)}"
        body = bodies[i % len(bodies)]
        out.append((svix_id, stamp, signer.sign(svix_id, now, body), body))
    return out


Delivery = tuple[str, str, str, str]


def _with_real(real: list[Delivery], filler: list[Delivery]) -> list[Delivery]:
    """The real payments' deliveries spread evenly through the run (their forwards run meanwhile)."""
    out = list(filler)
    step = max(1, len(out) // max(len(real), 1))
    for i, delivery in enumerate(real):
        out.insert(min(len(out), i * (step + 1)), delivery)
    return out


def open_loop(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, hot_capacity: float, create_capacity: float,
    hashes: list[str], duration: float, wrk: str | None, real_per_run: int = 40,
) -> dict[str, Any]:  # fmt: skip
    """Acknowledgement capacity, then open-loop runs at fixed shares of each path's capacity."""
    cores = os.cpu_count() or 1
    _h, warm = scenarios._paid(stack, fx, control, 32, duplicates=0.0)
    bodies = [d[3] for d in warm]
    run_load_spec = LoadSpec(stack.base_url, "webhook", 120, 16, path=scenarios.WEBHOOK_PATH, deliveries=warm)
    run_once(stack, run_load_spec, wrk=wrk)  # warm: every web thread has published before
    cap_spec = LoadSpec(
        stack.base_url, "webhook", 120, 16, path=scenarios.WEBHOOK_PATH, deliveries=_fresh(bodies, 1200)
    )
    _r, cap_row = run_once(stack, cap_spec, wrk=wrk)
    ack_capacity = float(cap_row["rps"])
    log(f"  webhook acknowledgement capacity (16 senders, closed loop): {ack_capacity:.0f}/s")
    out: dict[str, Any] = {
        "cores": cores,
        "capacity": {
            "webhook_ack_rps": round(ack_capacity, 1),
            "webhook_ack_cpu_ms": round(cap_row["cpu_ms_per_req"], 2),
            "hot_poll_rps": round(hot_capacity, 1),
            "create_rps": round(create_capacity, 1),
        },
        "runs": [],
    }
    for share in ACK_SHARES:
        _drain(stack)
        rate = share * ack_capacity
        _hashes, real = scenarios._paid(stack, fx, control, real_per_run, duplicates=0.0)
        filler = _fresh(bodies, max(0, int(rate * duration) - len(real)))
        deliveries = _with_real(real, filler)
        spec = OpenSpec(stack.base_url, "webhook", rate, duration, path=scenarios.WEBHOOK_PATH, deliveries=deliveries)
        w0 = stack.worker_cpu()
        result = run_open(spec)
        result |= {
            "path": "webhook ack",
            "share": share,
            "forwarding": f"{len(real)} real payments forwarded meanwhile",
            "worker_cpu_s_during": round(stack.worker_cpu() - w0, 2),
        }
        result["real_forwarded_at_end"] = scenarios.forwarded_count(stack, _hashes)
        out["runs"].append(result)
    _drain(stack)
    poll = OpenSpec(stack.base_url, "get_many", 0.5 * hot_capacity, duration,
                    paths=[f"{api.INVOICES}/{h}" for h in hashes], headers=api.auth_headers(fx))  # fmt: skip
    out["runs"].append(run_open(poll) | {"path": "status polling hot", "share": 0.5})
    create = OpenSpec(stack.base_url, "post", 0.5 * create_capacity, duration, path=api.INVOICES,
                      body=api.create_body(fx), headers=api.auth_headers(fx))  # fmt: skip
    out["runs"].append(run_open(create) | {"path": "create invoice", "share": 0.5})
    return out


def _drain(stack: Stack) -> None:
    """Wait until the workers have worked through what the previous load queued (each delivery of the
    open-loop runs is a Celery task) and the web tier is idle: a run measures its own load only."""
    quiesce(stack.worker_cpu, limit=180)
    quiesce(stack.web_cpu)


def tip_latency(stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, sales: int) -> list[dict[str, Any]]:
    out = []
    for latency in (0.0, 0.1):
        for legs in (1, 4):
            _drain(stack)
            out.append(tipflow.series(stack, fx, control, legs=legs, latency=latency, sales=sales))
    return out


def run_parts(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, hashes: list[str], *, config: WebConfig,
    duration: float, runs: int, connections: int, create_connections: int, tip_sales: int, wrk: str | None,
    scen: dict[str, Any], extras: list[str], sections: list[tuple[str, list[Measurement]]],
) -> None:  # fmt: skip
    """All of issue 22's parts, in order; results into ``scen``, table lines into ``extras`` and
    ``sections`` (bench/run.py prints them, ``issue22_report.targets`` judges them)."""
    create_tables(stack.db_url)
    floor, create = fair_create(stack, fx, duration=duration, connections=create_connections, runs=runs, wrk=wrk)
    bare, django, hot = poll_floors(
        stack, fx, hashes, config, duration=duration, connections=connections, runs=runs, wrk=wrk
    )
    scen.update(create_floor_provider=floor, create_paired=create, wsgi_floor=bare, redis_floor_paired=django,
                poll_hot_paired=hot)  # fmt: skip
    sections.append(("issue 22: fair floors (each measured in alternation with its scenario)",
                     [floor, create, bare, django, hot]))  # fmt: skip
    scen["open_loop"] = open_loop(
        stack, fx, control, hot_capacity=hot.rps, create_capacity=create.rps, hashes=hashes, duration=duration, wrk=wrk
    )
    scen["tipflow"] = tip_latency(stack, fx, control, sales=tip_sales)
    extras.append(
        f"  issue 22 floors (alternated): {floor.name} {floor.rps:,.0f} req/s {floor.cpu_ms:.2f} CPU ms vs create "
        f"{create.rps:,.0f} req/s {create.cpu_ms:.2f} CPU ms; {bare.name} {bare.rps:,.0f} req/s {bare.cpu_ms:.2f} "
        f"CPU ms vs Django view {django.rps:,.0f} req/s {django.cpu_ms:.2f} CPU ms vs hot poll {hot.rps:,.0f} req/s "
        f"{hot.cpu_ms:.2f} CPU ms"
    )
    extras.extend(issue22_report.open_loop_table(scen["open_loop"]))
    extras.extend(issue22_report.tip_table(scen["tipflow"]))
