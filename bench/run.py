"""``python -m bench`` (``make bench``): start the stack, measure floors, scenarios and the peer,
print a table and write artifacts/bench/bench-<timestamp>.json (and latest.json). The command line and
its defaults are in bench/knobs.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import api, floors, growth, issue22, issue22_report, peer, report, scenarios
from bench.knobs import Knobs, parse
from bench.loadgen import LoadSpec, ensure_wrk, run_load
from bench.measure import Measurement, measure, measure_once
from bench.procs import log
from bench.stack import PY, Stack, build_stack
from blinkpos.processes import ROOT, ProcessGroup

FLOOR_ORDER = ("view: empty", floors.REDIS_VIEW, "view: validate+INSERT+SET")


def _fixtures(stack: Stack) -> dict[str, Any]:
    out = subprocess.run(
        [PY, "-m", "bench.fixtures", stack.fake_url],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _api_ready(stack: Stack, fx: dict[str, Any]) -> str | None:
    """None when create + status answer; otherwise why not."""
    try:
        hashes = api.create_invoices(stack.base_url, fx, 1, parallel=1)
        reply = httpx.get(f"{stack.base_url}{api.INVOICES}/{hashes[0]}", headers=api.auth_headers(fx), timeout=10)
        if reply.status_code != 200:
            return f"GET {api.INVOICES}/<hash> answered {reply.status_code}: {reply.text[:200]}"
    except Exception as exc:
        return f"{exc.__class__.__name__}: {str(exc)[:300]}"
    return None


def _webhook_ready(stack: Stack) -> str | None:
    reply = httpx.post(f"{stack.base_url}{scenarios.WEBHOOK_PATH}", content=b"{}", timeout=10)
    if reply.status_code == 404:
        return f"POST {scenarios.WEBHOOK_PATH} is not routed (404)"
    return None


def _dashboard(stack: Stack) -> dict[str, float]:
    """The dashboard's reads for the history's merchant (bench.dashq), in the point's database."""
    out = subprocess.run(
        [PY, "-m", "bench.dashq"], cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300
    )  # fmt: skip
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}  # type: ignore[dict-item]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@dataclass
class _GrowthPoint:
    rows: int
    url: str
    template: growth.Template
    clone_seconds: float
    hot: Measurement
    create: Measurement
    fx: dict[str, Any] = field(default_factory=dict)
    hashes: list[str] = field(default_factory=list)
    settled: dict[str, float] = field(default_factory=dict)

    def result(self, dashboard: dict[str, float]) -> dict[str, Any]:
        return {
            "rows": self.rows,
            **growth.describe(self.template),
            "clone_seconds": round(self.clone_seconds, 1),
            "settle": self.settled,
            "hot": self.hot,
            "create": self.create,
            "dashboard": dashboard,
        }


def _growth_prepare(stack: Stack, k: Knobs, rows: int) -> _GrowthPoint:
    """A fresh clone of the history template of ``rows`` (generated once and kept)."""
    template = growth.ensure_template(stack.db_url, rows, env=stack.env, rebuild=k.rebuild_history)
    target = growth.point_url(stack.db_url, rows)
    clone_seconds = growth.clone(template, target)
    log(
        f"growth point {rows:,} historical splits: template {template.name} "
        f"({'generated now' if template.built_now else 'kept'}; generation {template.generation_seconds:.0f}s), "
        f"cloned in {clone_seconds:.1f}s"
    )
    label = f" @ {rows:,} splits"
    return _GrowthPoint(
        rows=rows,
        url=target,
        template=template,
        clone_seconds=clone_seconds,
        hot=Measurement(name=f"status polling hot{label}"),
        create=Measurement(name=f"create invoice{label}"),
    )


def _growth_visit(stack: Stack, k: Knobs, wrk: str | None, point: _GrowthPoint, index: int) -> None:
    """Run ``index`` of one point: the web server (re)started on its database, one create-invoice run,
    then one hot-polling run of 1 000 active invoices. The first visit also makes the bench parties
    and settles the clone (VACUUM (ANALYZE), CHECKPOINT, autovacuum idle)."""
    stack.env["DATABASE_URL"] = point.url
    stack.start_web(k.web)  # stops the previous point's server first
    first = not point.fx
    if first:
        point.fx = _fixtures(stack)
    why = _api_ready(stack, point.fx)
    if why:
        raise RuntimeError(f"POS API not ready on the growth database: {why}")
    if first:
        point.settled = growth.settle(point.url)
        log(f"  {point.rows:,}: settled {point.settled}")
    cspec = scenarios.create_spec(stack, point.fx, duration=k.duration, connections=k.create_connections)
    # The server was just restarted: each worker thread's first create builds its provider client and
    # imports what the create path loads lazily (~8 CPU ms per create over a 2 s run when measured
    # cold). One unmeasured second of the same load first, as the main section's stack had.
    run_load(dataclasses.replace(cspec, duration=1.0), wrk=wrk)
    measure_once(point.create, stack, cspec, index=index, runs=k.runs, wrk=wrk)
    if first:
        # Poll the invoices the create run just made (all pending, all in the hot store), topped up
        # through the API to the same count at every size: saves creating 1 000 invoices per point.
        hashes = growth.pending_hashes(point.url, merchant_id=int(point.fx["merchant_id"]), limit=k.invoices)
        if len(hashes) < k.invoices:
            hashes += api.create_invoices(stack.base_url, point.fx, k.invoices - len(hashes))
        point.hashes = hashes
    spec = scenarios.polling_spec(stack, point.fx, point.hashes, duration=k.duration, connections=k.connections)
    measure_once(point.hot, stack, spec, index=index, runs=k.runs, wrk=wrk)


def _growth(stack: Stack, k: Knobs, wrk: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both growth points, measured the same way and in alternation (small run 1, large run 1, small
    run 2...): the hot paths' cost of growth is a ratio between the two, and alternating keeps a drift
    of the shared machine out of it. Then the dashboard reads of each. The Celery workers are stopped
    throughout: polling and create enqueue nothing, and payments left over from the webhook bursts must
    not be forwarded on the same cores meanwhile. Afterwards the web server is stopped and the clones
    dropped."""
    main_url = stack.env["DATABASE_URL"]
    points: list[_GrowthPoint] = []
    try:
        stack.stop_web()  # before the clones: nothing may hold the databases
        stack.stop_workers()
        for rows in (k.growth_small, k.growth_large):
            points.append(_growth_prepare(stack, k, rows))
        for index in range(k.runs):
            for point in points:
                _growth_visit(stack, k, wrk, point, index)
        stack.stop_web()
        results = []
        for point in points:
            stack.env["DATABASE_URL"] = point.url
            results.append(point.result(_dashboard(stack)))
    finally:
        stack.stop_web()
        stack.stop_workers()
        stack.env["DATABASE_URL"] = main_url
        for rows in (k.growth_small, k.growth_large):
            growth.drop_database(growth.point_url(stack.db_url, rows))
    return results[0], results[1]


def _peer(group: ProcessGroup, k: Knobs, wrk: str | None, notes: list[str]) -> dict[str, Measurement]:
    exe = peer.ensure_lnbits(install=k.peer_install)
    if exe is None:
        notes.append("LNbits peer skipped: not installed and could not be installed (see log above)")
        return {}
    started = peer.start_peer(group, exe)
    if started is None:
        notes.append("LNbits peer skipped: it did not start (see log above)")
        return {}
    try:
        log("peer: LNbits invoice creation and status")
        hdr = {"X-Api-Key": started.inkey}
        body = json.dumps({"out": False, "amount": 100, "memo": "x"})
        cspec = LoadSpec(
            started.base_url, "post", k.duration, k.create_connections, path="/api/v1/payments", body=body, headers=hdr
        )
        fake_stack = _PeerCpu(started)
        create = measure("LNbits create invoice", fake_stack, lambda: cspec, runs=k.runs, wrk=wrk, cpu=started.cpu)  # type: ignore[arg-type]
        hashes = peer.create_invoices(started, 200)
        paths = [f"/api/v1/payments/{h}" for h in hashes]
        sspec = LoadSpec(started.base_url, "get_many", k.duration, k.connections, paths=paths, headers=hdr)
        status = measure("LNbits payment status", fake_stack, lambda: sspec, runs=k.runs, wrk=wrk, cpu=started.cpu)  # type: ignore[arg-type]
        for m in (create, status):
            m.note = "LNbits 1.6.2, FakeWallet, SQLite, one uvicorn process; SQL/req not counted"
            for row in m.runs:
                row["queries_per_req"] = None
        return {"create": create, "status": status}
    finally:
        peer.stop_peer(group, started)


class _PeerCpu:
    """Duck-typed stand-in for Stack in measure(): no query counter for the peer."""

    def __init__(self, started: peer.Peer) -> None:
        self.qc_dir = Path("/nonexistent-bench-qc")
        self.web_cpu = started.cpu


def _streams_only(k: Knobs, group: ProcessGroup, run_dir: Path, out_dir: Path, stamp: str) -> int:
    """``--only streams``: the stack without Celery workers, one web node, the streams scenario."""
    from bench import streams

    try:
        stack = build_stack(group=group, run_dir=run_dir, keep_db=k.keep_db)
        stack.start_fake()
        stack.start_web(k.web)
        fx = _fixtures(stack)
        log(f"stack: {k.web.describe()}, no Celery workers (the scenario commits its own changes)")
        result = streams.run(
            stack, fx, count=k.streams, changes=k.stream_changes, polled=k.stream_polled, run_dir=run_dir
        )
    except KeyboardInterrupt:
        log("interrupted: stopping everything the bench started")
        return 130
    finally:
        group.stop_all()
    print()
    for line in streams.describe(result):
        print(line)
    payload = {
        "when": stamp,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {"server": k.web.describe(), "only": "streams"},
        "scenarios": {"streams": result},
    }
    report.write_json(out_dir / f"bench-streams-{stamp}.json", payload)
    print(f"\nJSON: {out_dir / f'bench-streams-{stamp}.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    k = parse(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = ROOT / "artifacts" / "bench"
    run_dir = out_dir / f"run-{stamp}"
    group = ProcessGroup(run_dir / "logs")
    if k.only == "streams":
        return _streams_only(k, group, run_dir, out_dir, stamp)
    started_at = time.monotonic()

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    notes: list[str] = []
    extras22: list[str] = []
    results: dict[str, Any] = {}
    sections: list[tuple[str, list[Measurement]]] = []
    timings: dict[str, float] = {}  # seconds per part of the run, to keep the default run < 10 minutes
    last_mark = [started_at]

    def mark(part: str) -> None:
        now = time.monotonic()
        timings[part] = round(now - last_mark[0], 1)
        last_mark[0] = now

    try:
        wrk = ensure_wrk(allow_install=True)
        stack = build_stack(group=group, run_dir=run_dir, keep_db=k.keep_db)
        stack.start_fake()
        stack.start_web(k.web)
        stack.start_workers(2, nice=k.worker_nice)
        log(
            f"stack: {k.web.describe()}, 2 Celery workers (nice {k.worker_nice}), "
            f"load by {'wrk' if wrk else 'bench.pyload'}"
        )
        raw = floors.raw_floors(stack, count=5000 if k.duration >= 5 else 2000)
        fx = _fixtures(stack)
        why = _api_ready(stack, fx)
        # "1 Redis GET" is hot polling's floor: measured in alternation with it when the API is up.
        views = (
            {}
            if k.issue22_only
            else floors.view_floors(
                stack,
                duration=k.duration,
                connections=k.connections,
                write_connections=k.create_connections,
                runs=k.runs,
                wrk=wrk,
                skip_redis=not why,
            )
        )
        floor_section = ("floors", [*raw])
        sections.append(floor_section)
        mark("setup and floors")
        from bench.evaluate import evaluate  # after the floors exist

        control = api.FakeControl(stack.fake_url)
        scen: dict[str, Any] = {}
        if why:
            notes.append(f"POS API scenarios skipped: {why}")
            log(notes[-1])
        else:
            log(f"preparing {k.invoices} active invoices")
            hashes = api.create_invoices(stack.base_url, fx, k.invoices)
            if not k.issue22_only:
                log(f"hot polling, in alternation with its floor ({floors.REDIS_VIEW})")
                poll = scenarios.polling(
                    stack, fx, hashes, duration=k.duration, connections=k.connections, runs=k.runs, wrk=wrk,
                    paired_floor=(
                        floors.REDIS_VIEW, floors.redis_view_spec(stack, duration=k.duration, connections=k.connections)
                    ),
                )  # fmt: skip
                views[floors.REDIS_VIEW] = poll["floor"]
                create = scenarios.create(
                    stack, fx, duration=k.duration, connections=k.create_connections, runs=k.runs, wrk=wrk
                )
                slow = scenarios.create_with_slow_provider(
                    stack, fx, hashes, control, latency=0.25, duration=k.duration,
                    create_connections=k.create_connections, poll_connections=k.connections, runs=k.runs, wrk=wrk,
                )  # fmt: skip
                slow_named = {f"slow_{n}": m for n, m in slow.items()}
                scen.update(poll_hot=poll["hot"], poll_cold=poll["cold"], create=create, **slow_named)
                sections.append(("status polling", [poll["hot"], poll["cold"]]))
                sections.append(("create invoice", [create, slow["creates"], slow["alone"], slow["under"]]))
                mark("status polling and create invoice")
                hook_why = _webhook_ready(stack)
                if hook_why:
                    notes.append(f"webhook burst skipped: {hook_why}")
                    log(notes[-1])
                else:
                    fast = scenarios.webhook_burst(
                        stack, fx, control, payments=int(k.burst / 1.1), latency=0.0,
                        connections=k.burst_connections, wrk=wrk, forward_timeout=k.forward_timeout,
                        warmup=2 * k.burst_connections,
                    )  # fmt: skip
                    slow_burst = scenarios.webhook_burst(
                        stack, fx, control, payments=max(10, int(k.burst_slow / 1.1)), latency=0.1,
                        connections=k.burst_connections, wrk=wrk, forward_timeout=k.forward_timeout,
                    )  # fmt: skip
                    scen.update(burst=fast, burst_slow=slow_burst)
                    sections.append(("webhook burst", [fast, slow_burst]))
                    mark("webhook bursts")
            issue22.run_parts(
                stack, fx, control, hashes, config=k.web, duration=k.duration, runs=k.runs,
                connections=k.connections, create_connections=k.create_connections, tip_sales=k.tip_sales, wrk=wrk,
                scen=scen, extras=extras22, sections=sections,
            )  # fmt: skip
            mark("issue 22")
            if not k.issue22_only:
                try:
                    small, large = _growth(stack, k, wrk)
                except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error, httpx.HTTPError) as exc:
                    notes.append(f"growth skipped: {exc.__class__.__name__}: {str(exc)[:300]}")
                    log(notes[-1])
                else:
                    scen.update(growth_small=small, growth_large=large)
                    sections.append(("growth", [small["hot"], small["create"], large["hot"], large["create"]]))
                mark("growth")
        stack.stop_web()
        stack.stop_workers()
        if k.peer:
            peer_results = _peer(group, k, wrk, notes)
            if peer_results:
                scen.update(peer_create=peer_results["create"], peer_status=peer_results["status"])
                sections.append(("peer: LNbits", [peer_results["create"], peer_results["status"]]))
        else:
            notes.append("LNbits peer skipped (--no-peer)")
        mark("peer")
        floor_section[1].extend(views[name] for name in FLOOR_ORDER if name in views)
        results["floors"] = {m.name: m.as_dict() for m in floor_section[1]}
        ratios, targets, extras = evaluate(views, raw, scen)
        if k.issue22_only:  # the earlier targets were not measured in this run
            targets, extras = [], []
        targets.extend(issue22_report.targets(scen))
        extras.extend(extras22)
        notes.extend(stack.notes)
    except KeyboardInterrupt:
        log("interrupted: stopping everything the bench started")
        group.stop_all()
        return 130
    finally:
        group.stop_all()
    elapsed = time.monotonic() - started_at
    print()
    print(report.table(sections, ratios))
    for line in extras:
        print(line)
    print()
    print(report.targets_text(targets))
    for note in notes:
        print(f"note: {note}")
    print("time per part (s): " + ", ".join(f"{part} {seconds:.0f}" for part, seconds in timings.items()))
    payload = {
        "when": stamp,
        "elapsed_seconds": round(elapsed, 1),
        "seconds_per_part": timings,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "config": {**{k2: v for k2, v in k.__dict__.items() if k2 != "web"}, "server": k.web.describe()},
        "load_generator": "wrk" if wrk else "bench.pyload",
        "floors": results.get("floors", {}),
        "scenarios": {n: (m.as_dict() if isinstance(m, Measurement) else _plain(m)) for n, m in scen.items()},
        "ratios": ratios,
        "targets": [t.__dict__ | {"verdict": t.verdict()} for t in targets],
        "notes": notes,
    }
    report.write_json(out_dir / f"bench-{stamp}.json", payload)
    report.write_json(out_dir / "latest.json", payload)
    print(f"\nJSON: {out_dir / f'bench-{stamp}.json'}  (total {elapsed:.0f}s)")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, Measurement):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    sys.exit(main())
