"""The bare WSGI floor of the hot poll (issue 22 §1): no Django, one Redis GET of the same 400-byte
value as the "1 Redis GET" floor view, a JSON answer. Served by gunicorn with as many worker
processes as the stack's web tier (``start``), so the table shows how far Django's request cycle is from the limit.
Report only, no target."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import redis

from bench.stack import Stack, WebConfig
from blinkpos.processes import Process, free_port

KEY = "bench:floor:value"  # written by bench.floors (the 400-byte value of the Redis floors)
_pool = redis.ConnectionPool.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    value = redis.Redis(connection_pool=_pool).get(KEY)
    body = b'{"ok":true,"size":%d}' % len(value or b"")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def start(stack: Stack, config: WebConfig) -> tuple[Process, str]:
    """gunicorn serving ``application`` beside the stack's web server (as many worker processes)."""
    port = free_port(24500)
    workers = config.workers or 2 * (os.cpu_count() or 1)
    argv = [sys.executable, "-m", "gunicorn", "bench.wsgi_floor:application", "--bind", f"127.0.0.1:{port}"]
    # gthread: a thread per request, like the ASGI tier runs a sync view (report-only floor, no Django).
    argv += ["--workers", str(workers), "--worker-class", "gthread", "--threads", "4", "--backlog", "2048"]
    process = stack.launcher.spawn("wsgi-floor", argv, env={"REDIS_URL": stack.redis_url})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the bare WSGI floor did not start")
