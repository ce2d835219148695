"""Run a load several times and summarise: median req/s, p50 and p99 (medians over the runs), CPU ms
per request of the server processes (from /proc, before/after) and SQL statements per request
(bench.querycount, summed over the web workers)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import querycount
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.procs import log
from bench.stack import Stack


@dataclass
class Measurement:
    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def _median(self, key: str) -> float:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return float(statistics.median(values)) if values else 0.0

    @property
    def rps(self) -> float:
        return self._median("rps")

    @property
    def p50_ms(self) -> float:
        return self._median("p50_ms")

    @property
    def p99_ms(self) -> float:
        return self._median("p99_ms")

    @property
    def cpu_ms(self) -> float:
        return self._median("cpu_ms_per_req")

    @property
    def queries(self) -> float | None:
        values = [r["queries_per_req"] for r in self.runs if r.get("queries_per_req") is not None]
        return float(statistics.median(values)) if values else None

    @property
    def errors(self) -> int:
        return sum(r.get("error_count", 0) for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "cpu_ms_per_req": round(self.cpu_ms, 3),
            "queries_per_req": None if self.queries is None else round(self.queries, 4),
            "errors": self.errors,
            "note": self.note,
            "runs": self.runs,
            **self.extra,
        }


def quiesce(cpu: Callable[[], float], *, limit: float = 15.0) -> None:
    """Wait until the server is idle: requests queued by the previous load (wrk stops sending, the
    server keeps working through its backlog) must not be charged to the next measurement."""
    deadline = time.monotonic() + limit
    before = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = cpu()
        if after - before < 0.02:  # < 4 % of one core over half a second
            return
        before = after


def run_once(
    stack: Stack, spec: LoadSpec, *, wrk: str | None, cpu: Callable[[], float] | None = None
) -> tuple[LoadResult, dict[str, Any]]:
    cpu_fn = cpu or stack.web_cpu
    quiesce(cpu_fn)
    q0 = querycount.read_total(stack.qc_dir)
    c0 = cpu_fn()
    result = run_load(spec, wrk=wrk)
    c1 = cpu_fn()
    q1 = querycount.read_total(stack.qc_dir)
    row = result.as_dict()
    served = max(result.requests, 1)
    row["cpu_ms_per_req"] = (c1 - c0) * 1000 / served
    row["queries_per_req"] = (q1 - q0) / served
    row["error_count"] = result.error_count
    return result, row


def measure(
    name: str,
    stack: Stack,
    make_spec: Callable[[], LoadSpec],
    *,
    runs: int,
    wrk: str | None,
    before_each: Callable[[], object] | None = None,
    cpu: Callable[[], float] | None = None,
) -> Measurement:
    measurement = Measurement(name=name)
    for index in range(runs):
        if before_each is not None:
            before_each()
        measure_once(measurement, stack, make_spec(), index=index, runs=runs, wrk=wrk, cpu=cpu)
    return measurement


def measure_once(
    measurement: Measurement, stack: Stack, spec: LoadSpec, *, index: int, runs: int, wrk: str | None,
    cpu: Callable[[], float] | None = None,
) -> None:  # fmt: skip
    """Run ``spec`` once and append the row to ``measurement`` (run ``index + 1`` of ``runs``)."""
    _result, row = run_once(stack, spec, wrk=wrk, cpu=cpu)
    measurement.runs.append(row)
    log(
        f"  {measurement.name} run {index + 1}/{runs}: {row['rps']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, "
        f"p99 {row['p99_ms']:.1f} ms, {row['cpu_ms_per_req']:.2f} CPU ms/req, "
        f"{row['queries_per_req']:.3f} SQL/req, errors {row['errors']}"
    )


def measure_paired(
    stack: Stack, specs: dict[str, Callable[[], LoadSpec]], *, runs: int, wrk: str | None
) -> dict[str, Measurement]:
    """Measure several loads in alternation (A1 B1 A2 B2 ...), so a ratio between them compares runs
    taken under the same machine conditions: on a shared 2-core machine a drift over a minute (another
    process, page cache, CPU frequency) moves a run's CPU/request by 10-25 %, more than the effects
    the ratios are meant to show."""
    results = {name: Measurement(name=name) for name in specs}
    for index in range(runs):
        for name, make_spec in specs.items():
            measure_once(results[name], stack, make_spec(), index=index, runs=runs, wrk=wrk)
    return results
