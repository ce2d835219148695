"""Open-loop load (issue 22 §3): requests sent at a FIXED rate on a schedule, whatever the server does.

Request i is due at ``start + i / rate``. It goes out on an idle keep-alive connection, or on a new one
(up to ``max_connections``; beyond that it waits for one). Its latency is measured from its SCHEDULED
time to the end of the answer, so a server that falls behind is charged for the wait of every request
it delayed (no coordinated omission: a closed-loop generator would simply send less).

Runs in its own process (``python -m bench.openloop SPEC.json OUT.json``, started by ``run_open``) so
the generator's CPU is never the server's. Raw HTTP/1.1 over asyncio streams (uvloop when present):
about 0.1 ms of CPU per request, far below the server's cost, on the same two cores.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.procs import log


@dataclass
class OpenSpec:
    base_url: str
    mode: str  # get_many | post | webhook
    rate: float  # requests per second
    duration: float
    paths: list[str] = field(default_factory=list)
    path: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    deliveries: list[tuple[str, str, str, str]] = field(default_factory=list)  # webhook: one per request
    max_connections: int = 256
    timeout: float = 10.0


def _requests(spec: OpenSpec, host: str) -> list[bytes]:
    count = int(spec.rate * spec.duration)
    base = "".join(f"{k}: {v}\r\n" for k, v in spec.headers.items())
    head = f"Host: {host}\r\nConnection: keep-alive\r\n{base}"
    out: list[bytes] = []
    if spec.mode == "get_many":
        for i in range(count):
            out.append(f"GET {spec.paths[i % len(spec.paths)]} HTTP/1.1\r\n{head}\r\n".encode())
    elif spec.mode == "post":
        body = spec.body.encode()
        kind = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        first = f"POST {spec.path} HTTP/1.1\r\n{head}{kind}"
        out = [first.encode() + body] * count
    else:
        for svix_id, stamp, signature, text in spec.deliveries[:count]:
            body = text.encode()
            hook = f"svix-id: {svix_id}\r\nsvix-timestamp: {stamp}\r\nsvix-signature: {signature}\r\n"
            kind = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            req = f"POST {spec.path} HTTP/1.1\r\n{head}{hook}{kind}"
            out.append(req.encode() + body)
    return out


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer (Content-Length or chunked); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _run(spec: OpenSpec) -> dict[str, Any]:
    url = urlsplit(spec.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    payloads = _requests(spec, f"{host}:{port}")
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    slots = asyncio.Semaphore(spec.max_connections)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    late_sends = 0

    async def one(payload: bytes, due: float) -> None:
        nonlocal opened
        async with slots:
            try:
                if idle:
                    reader, writer = idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(host, port)
                    opened += 1
                writer.write(payload)
                status = await asyncio.wait_for(_answer(reader), spec.timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                return
            latencies.append(time.perf_counter() - due)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            idle.append((reader, writer))

    start = time.perf_counter() + 0.2
    tasks = []
    for i, payload in enumerate(payloads):
        due = start + i / spec.rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            late_sends += 1  # the generator itself fell behind (reported; the latency still counts from due)
        tasks.append(asyncio.create_task(one(payload, due)))
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - start
    for _reader, writer in idle:
        writer.close()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return {
        "scheduled": len(payloads),
        "answered": len(ordered),
        "target_rps": spec.rate,
        "achieved_rps": round(len(ordered) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(pct(0.50), 2),
        "p90_ms": round(pct(0.90), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else 0.0,
        "statuses": statuses,
        "connections_opened": opened,
        "late_sends": late_sends,
    }


def run_open(spec: OpenSpec) -> dict[str, Any]:
    """Run ``spec`` in a child process and return its summary."""
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        limit = spec.duration + spec.timeout + 60
        done = subprocess.run(
            [sys.executable, "-m", "bench.openloop", str(spec_path), str(out_path)], timeout=limit, check=False
        )
        if done.returncode != 0 or not out_path.exists():
            raise RuntimeError(f"open-loop generator exited {done.returncode}")
        result: dict[str, Any] = json.loads(out_path.read_text())
    log(
        f"  open loop {spec.mode} at {spec.rate:.0f}/s for {spec.duration:.0f}s: p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, answered {result['answered']}/{result['scheduled']}, {result['statuses']}"
    )
    return result


def main(argv: list[str]) -> int:
    data = json.loads(Path(argv[0]).read_text())
    data["deliveries"] = [tuple(d) for d in data.get("deliveries", [])]
    spec = OpenSpec(**data)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    Path(argv[1]).write_text(json.dumps(asyncio.run(_run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
