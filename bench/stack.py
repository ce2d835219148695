"""The stack under test: a private bench database, the ASGI web tier (uvicorn), Celery workers and the fake Blink,
started through the launcher every stack uses (``blinkpos.stack``).

The bench never touches the operator's data: it creates ``<DATABASE_URL's name>_bench`` on the same
PostgreSQL server (dropped and re-created at each run unless --keep-db), uses the configured Redis
and deletes only the keys it made (``tip:*`` for the cold scenario, ``bench:*``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from bench.procs import log, tree_cpu
from blinkpos.processes import Process, ProcessGroup, free_port
from blinkpos.stack import Stack as Launcher
from blinkpos.stack import fresh_credentials

PY = sys.executable
# Fresh per bench run: every process of the stack gets them through the environment built here.
BENCH_CREDENTIALS = fresh_credentials()
BENCH_WEBHOOK_SECRET = BENCH_CREDENTIALS["BLINK_WEBHOOK_SECRET"]


@dataclass
class WebConfig:
    """The web tier under test: uvicorn worker processes on the ASGI app (blinkpos/webserver.py). A
    worker runs sync views on a thread per request and status streams on its event loop."""

    workers: int = 0  # 0: 2 x cores

    def start(self, stack: Launcher) -> Process:
        return stack.start_web(
            workers=self.workers or 2 * (os.cpu_count() or 1),
            extra_args=["--backlog", "2048", "--timeout-keep-alive", "5"],
        )

    def describe(self) -> str:
        return f"uvicorn (ASGI), {self.workers or 2 * (os.cpu_count() or 1)} workers"


def bench_database_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    name = parts.path.lstrip("/") or "blinkpos"
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def admin_url(db_url: str) -> str:
    return urlunsplit(urlsplit(db_url)._replace(path="/postgres"))


def pg_dsn(db_url: str) -> str:
    """psycopg accepts postgres:// URLs; strip a Django-only scheme variant if present."""
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def recreate_database(db_url: str, *, keep: bool) -> bool:
    """Create the bench database (drop it first unless ``keep``). Returns True when it was created."""
    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(pg_dsn(admin_url(db_url)), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and keep:
            return False
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def create_floor_table(db_url: str) -> None:
    with psycopg.connect(pg_dsn(db_url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor_rows (id bigserial PRIMARY KEY, ref text NOT NULL UNIQUE, "
            "amount bigint NOT NULL, tip_percent integer NOT NULL, memo text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )


@dataclass
class Stack:
    launcher: Launcher
    db_url: str
    redis_url: str
    qc_dir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def group(self) -> ProcessGroup:
        return self.launcher.group

    @property
    def env(self) -> dict[str, str]:
        """What the next started process gets (the growth points change DATABASE_URL here)."""
        return self.launcher.env

    @property
    def web(self) -> Process | None:
        return self.launcher.processes.get("web")

    @property
    def workers(self) -> Process | None:
        return self.launcher.processes.get("worker")

    @property
    def base_url(self) -> str:
        return self.launcher.base_url

    @property
    def fake_url(self) -> str:
        return self.launcher.fake_url

    def manage(self, *args: str, timeout: float = 600) -> None:
        self.launcher.manage(*args, timeout=timeout)

    def start_fake(self) -> None:
        """The fake Blink on loopback, with the demo accounts; no webhooks (the bursts post their own)."""
        self.launcher.start_fake()

    def start_web(self, config: WebConfig) -> None:
        self.stop_web()
        config.start(self.launcher)
        # Load the URLconf (and the query counter) in every worker before measuring.
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for _ in range(64):
                client.get("/bench/floor/empty", headers={"Connection": "close"})

    def start_workers(self, concurrency: int = 2, *, nice: int = 0) -> None:
        """``nice`` > 0 runs the workers at a lower CPU priority than the web tier: forwarding is background
        work measured in seconds, acknowledgements and polls are answered in milliseconds. On a shared
        host that is how an operator keeps the web tier responsive (docker-compose.yml gives the worker
        service fewer ``cpu_shares`` for the same reason); on separate hosts it does not matter."""
        self.stop_workers()
        # No query counter in the workers: "SQL/req" counts what the web tier sends per request (a worker
        # that imports the URLconf would otherwise add its forwarding SQL to the burst's figure).
        env = {k: v for k, v in self.env.items() if k != "BLINKPOS_BENCH_QC_DIR"}
        self.launcher.start_worker(concurrency=concurrency, nice=nice, env=env)
        time.sleep(3.0)

    def stop_web(self) -> None:
        self.launcher.stop_process("web")

    def stop_workers(self) -> None:
        self.launcher.stop_process("worker")

    def web_cpu(self) -> float:
        return tree_cpu(self.web.pid) if self.web else 0.0

    def worker_cpu(self) -> float:
        return tree_cpu(self.workers.pid) if self.workers else 0.0


def build_stack(*, group: ProcessGroup, run_dir: Path, keep_db: bool) -> Stack:
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_url = bench_database_url(base_db)
    created = recreate_database(db_url, keep=keep_db)
    qc_dir = run_dir / "querycount"
    qc_dir.mkdir(parents=True, exist_ok=True)
    log_level = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
    env = dict(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        DEBUG="false",
        LOG_LEVEL=log_level,
        **BENCH_CREDENTIALS,
        BLINKPOS_BENCH_FLOORS="1",
        BLINKPOS_BENCH_QC_DIR=str(qc_dir),
        PYTHONDONTWRITEBYTECODE="1",
        BLINK_INVOICE_RATE_POINTS="100000000",  # the fake's limits are off: no per-account count either
        # The limiter stays in the request path (INCR + EXPIRE per request); only its ceilings are lifted.
        API_RATE_LIMITS_JSON=json.dumps({"terminal": "100000000/min", "merchant": "100000000/min"}),
    )
    web_port = free_port(int(os.environ.get("BENCH_PORT_BASE", "18000")))  # a shared host: one range per user
    processes = Launcher(
        web_port=web_port,
        fake_port=free_port(max(18089, web_port + 1)),
        settings_module="blinkpos.settings.base",
        extra_env=env,
        autopay_seconds=None,
        fake_webhooks=False,
        fake_limits=False,  # thousands of invoices a minute on the one platform account
        log_level=log_level,
        group=group,
        collect_static=False,
    )
    stack = Stack(launcher=processes, db_url=db_url, redis_url=redis_url, qc_dir=qc_dir)
    log(f"bench database {urlsplit(db_url).path.lstrip('/')} ({'created' if created else 'kept'}); migrating")
    stack.manage("migrate", "--noinput", "-v", "0")
    create_floor_table(db_url)
    return stack
