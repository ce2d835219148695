"""The load generator: wrk (Debian package) driven by bench/lua/bench.lua, or, when wrk cannot be
installed, bench.pyload (asyncio + httpx) in a separate process. Either way the load runs outside the
server's processes and the result is the same JSON summary."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import log

LUA = Path(__file__).with_name("lua") / "bench.lua"


@dataclass
class LoadSpec:
    """One load run. ``deliveries`` are (svix-id, timestamp, signature, body) for the webhook mode."""

    base_url: str
    mode: str  # get_many | post | webhook
    duration: float
    connections: int
    threads: int = 2
    paths: list[str] = field(default_factory=list)
    path: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    deliveries: list[tuple[str, str, str, str]] = field(default_factory=list)
    timeout: float = 10.0


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "errors": self.errors,
            "tool": self.tool,
        }


def ensure_wrk(*, allow_install: bool) -> str | None:
    """Path of wrk, installing the Debian package when missing and allowed (root + apt-get)."""
    found = shutil.which("wrk")
    if found or not allow_install:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing it with apt-get (Debian package 'wrk')")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 300}
        subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)  # type: ignore[call-overload]
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, **quiet)  # type: ignore[call-overload]
    found = shutil.which("wrk")
    if not found:
        log("wrk unavailable: falling back to the Python load generator (bench.pyload)")
    return found


def _summary(data: dict[str, Any], tool: str) -> LoadResult:
    return LoadResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors={k: int(v) for k, v in data["errors"].items()},
        tool=tool,
    )


def run_load(spec: LoadSpec, *, wrk: str | None) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="blinkpos-bench-") as tmp:
        work = Path(tmp)
        out = work / "out.json"
        if wrk is None:
            spec_file = work / "spec.json"
            spec_file.write_text(json.dumps(spec.__dict__))
            timeout = spec.duration + 120
            subprocess.run(
                [sys.executable, "-m", "bench.pyload", str(spec_file), str(out)], check=True, timeout=timeout
            )
            return _summary(json.loads(out.read_text()), "pyload")
        env = dict(os.environ, BENCH_MODE=spec.mode, BENCH_OUT=str(out), BENCH_THREADS=str(spec.threads))
        headers = work / "headers"
        headers.write_text("".join(f"{k}: {v}\n" for k, v in spec.headers.items()))
        env["BENCH_HEADERS"] = str(headers)
        env["BENCH_PATH"] = spec.path
        if spec.mode == "get_many":
            (work / "paths").write_text("\n".join(spec.paths) + "\n")
            env["BENCH_PATHS"] = str(work / "paths")
        elif spec.mode == "post":
            (work / "body").write_text(spec.body)
            env["BENCH_BODY"] = str(work / "body")
        elif spec.mode == "webhook":
            (work / "deliveries").write_text("".join("\t".join(d) + "\n" for d in spec.deliveries))
            env["BENCH_DELIVERIES"] = str(work / "deliveries")
        argv = [
            wrk, "-t", str(spec.threads), "-c", str(max(spec.connections, spec.threads)),
            "-d", f"{max(1, round(spec.duration))}s", "--timeout", f"{round(spec.timeout)}s",
            "-s", str(LUA), spec.base_url,
        ]  # fmt: skip
        if spec.mode == "webhook":
            returncode, stderr = _run_burst(argv, env, out, threads=spec.threads, limit=spec.duration + 120)
        else:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=spec.duration + 120)
            returncode, stderr = proc.returncode, proc.stderr.strip() or proc.stdout.strip()
        if returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({returncode}): {stderr}")
        return _summary(json.loads(out.read_text()), "wrk")


def _run_burst(argv: list[str], env: dict[str, str], out: Path, *, threads: int, limit: float) -> tuple[int, str]:
    """A fixed-size burst on wrk: each thread stops once its slice of deliveries is answered and leaves a
    marker file; wrk's main thread would still sleep the whole ``-d``, so SIGINT ends it (wrk then joins
    its threads, reports and runs ``done()`` as after a normal run). Bounded by ``limit`` seconds."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + limit
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if len(list(out.parent.glob(f"{out.name}.stopped.*"))) >= threads:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
        else:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the limit: report what was answered so far
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    return proc.returncode, (stderr or stdout).strip()
