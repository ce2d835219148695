"""Fallback load generator (when wrk is unavailable): ``python -m bench.pyload SPEC.json OUT.json``.

Same modes and the same JSON summary as bench/lua/bench.lua, with ``connections`` concurrent asyncio
clients over httpx keep-alive connections. It runs in its own process, never in the server's.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    deliveries = list(spec["deliveries"])
    cursor = 0
    deadline = time.monotonic() + spec["duration"]
    limits = httpx.Limits(max_connections=spec["connections"], max_keepalive_connections=spec["connections"])
    total_bytes = 0

    async with httpx.AsyncClient(base_url=spec["base_url"], limits=limits, timeout=spec["timeout"]) as client:

        async def one() -> bool:
            nonlocal cursor, total_bytes
            headers = dict(spec["headers"])
            if spec["mode"] == "get_many":
                method, path, body = "GET", random.choice(spec["paths"]), None
            elif spec["mode"] == "post":
                method, path, body = "POST", spec["path"], spec["body"].encode()
                headers["Content-Type"] = "application/json"
            else:
                if cursor >= len(deliveries):
                    return False
                sid, ts, sig, payload = deliveries[cursor]
                cursor += 1
                method, path, body = "POST", spec["path"], payload.encode()
                headers.update({"Content-Type": "application/json", "svix-id": sid, "svix-timestamp": ts})
                headers["svix-signature"] = sig
            started = time.perf_counter()
            try:
                response = await client.request(method, path, content=body, headers=headers)
            except httpx.TimeoutException:
                errors["timeout"] += 1
                return True
            except httpx.HTTPError:
                errors["connect"] += 1
                return True
            latencies.append(time.perf_counter() - started)
            total_bytes += len(response.content)
            if response.status_code >= 400:
                errors["status"] += 1
            return True

        async def worker() -> None:
            while time.monotonic() < deadline:
                if not await one():
                    return

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["connections"])))
        elapsed = time.perf_counter() - started
    us = [v * 1e6 for v in latencies]
    return {
        "requests": len(latencies) + errors["timeout"] + errors["connect"],
        "duration_us": int(elapsed * 1e6),
        "bytes": total_bytes,
        "p50_us": _pct(us, 50),
        "p90_us": _pct(us, 90),
        "p99_us": _pct(us, 99),
        "max_us": max(us, default=0.0),
        "mean_us": sum(us) / len(us) if us else 0.0,
        "errors": errors,
    }


if __name__ == "__main__":
    spec_path, out_path = sys.argv[1], sys.argv[2]
    result = asyncio.run(_main(json.loads(Path(spec_path).read_text())))
    Path(out_path).write_text(json.dumps(result))
