"""The stack under test: a private bench database, gunicorn, Celery workers and the fake Blink.

The bench never touches the operator's data: it creates ``<DATABASE_URL's name>_bench`` on the same
PostgreSQL server (dropped and re-created at each run unless --keep-db), uses the configured Redis
and deletes only the keys it made (``tip:*`` for the cold scenario, ``bench:*``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from bench.procs import Managed, ProcessGroup, free_port, log, wait_port

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
# Fixed credentials for the fake Blink only.
# Fresh per bench run: every process of the stack gets them through the environment built here.
BENCH_PLATFORM_KEY = "blink_" + secrets.token_hex(16)
BENCH_WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class GunicornConfig:
    """The web server config; the README's recommendation is what the bench measures by default."""

    worker_class: str = "gthread"
    workers: int = 0  # 0: 2 x cores
    threads: int = 4

    def argv(self, bind: str) -> list[str]:
        workers = self.workers or 2 * (os.cpu_count() or 1)
        argv = [PY, "-m", "gunicorn", "blinkpos.wsgi:application", "--bind", bind, "--workers", str(workers)]
        argv += ["--worker-class", self.worker_class, "--backlog", "2048", "--keep-alive", "5", "--timeout", "60"]
        if self.worker_class == "gthread":
            argv += ["--threads", str(self.threads)]
        return argv

    def describe(self) -> str:
        workers = self.workers or 2 * (os.cpu_count() or 1)
        extra = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.worker_class}, {workers} workers{extra}"


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
    group: ProcessGroup
    env: dict[str, str]
    db_url: str
    redis_url: str
    qc_dir: Path
    web_port: int = 0
    fake_port: int = 0
    web: Managed | None = None
    workers: Managed | None = None
    fake: Managed | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"

    def manage(self, *args: str, timeout: float = 600) -> None:
        import subprocess

        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=timeout)

    def start_fake(self) -> bool:
        """The fake Blink on loopback (helper-1's ``manage.py fake_blink``); False when it is missing."""
        if not (ROOT / "payments/management/commands/fake_blink.py").exists():
            self.notes.append("fake Blink command (manage.py fake_blink) not present: provider scenarios skipped")
            return False
        self.fake_port = free_port(18089)
        self.env["BLINK_API_URL"] = f"{self.fake_url}/graphql"
        argv = [
            PY, "manage.py", "fake_blink", "--port", str(self.fake_port), "--demo",
            "--webhook-secret-env", "BLINK_WEBHOOK_SECRET", "--platform-api-key-env", "BLINK_API_KEY",
        ]  # fmt: skip
        self.fake = self.group.start("fake-blink", argv, env=self.env, cwd=ROOT)
        wait_port(self.fake_port, timeout=30, proc=self.fake.proc)
        return True

    def start_web(self, config: GunicornConfig) -> None:
        if self.web is not None:
            self.group.stop(self.web)
        self.web_port = free_port(18000)
        self.web = self.group.start("gunicorn", config.argv(f"127.0.0.1:{self.web_port}"), env=self.env, cwd=ROOT)
        wait_port(self.web_port, timeout=60, proc=self.web.proc)
        # Load the URLconf (and the query counter) in every worker before measuring.
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for _ in range(64):
                client.get("/bench/floor/empty", headers={"Connection": "close"})

    def start_workers(self, concurrency: int = 2, *, nice: int = 0) -> None:
        """``nice`` > 0 runs the workers at a lower CPU priority than gunicorn: forwarding is background
        work measured in seconds, acknowledgements and polls are answered in milliseconds. On a shared
        host that is how an operator keeps the web tier responsive (docker-compose.yml gives the worker
        service fewer ``cpu_shares`` for the same reason); on separate hosts it does not matter."""
        if self.workers is not None:
            self.group.stop(self.workers)
        argv = ["nice", "-n", str(nice)] if nice > 0 else []
        argv += [PY, "-m", "celery", "-A", "blinkpos", "worker", "--concurrency", str(concurrency)]
        argv += ["--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"]
        # No query counter in the workers: "SQL/req" counts what the web tier sends per request (a worker
        # that imports the URLconf would otherwise add its forwarding SQL to the burst's figure).
        env = {k: v for k, v in self.env.items() if k != "BLINKPOS_BENCH_QC_DIR"}
        self.workers = self.group.start("celery", argv, env=env, cwd=ROOT)
        time.sleep(3.0)

    def web_cpu(self) -> float:
        return self.web.cpu() if self.web else 0.0

    def worker_cpu(self) -> float:
        return self.workers.cpu() if self.workers else 0.0


def build_stack(*, group: ProcessGroup, run_dir: Path, keep_db: bool) -> Stack:
    base_db = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/blinkpos")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    db_url = bench_database_url(base_db)
    created = recreate_database(db_url, keep=keep_db)
    qc_dir = run_dir / "querycount"
    qc_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        DJANGO_SETTINGS_MODULE="blinkpos.settings.base",
        DEBUG="false",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        BLINK_API_KEY=BENCH_PLATFORM_KEY,
        BLINK_API_URL="http://127.0.0.1:9/graphql",
        BLINK_WEBHOOK_SECRET=BENCH_WEBHOOK_SECRET,
        BLINKPOS_BENCH_FLOORS="1",
        BLINKPOS_BENCH_QC_DIR=str(qc_dir),
        PYTHONDONTWRITEBYTECODE="1",
        # The limiter stays in the request path (INCR + EXPIRE per request); only its ceilings are lifted.
        API_RATE_LIMITS_JSON=json.dumps({"terminal": "100000000/min", "merchant": "100000000/min"}),
    )
    stack = Stack(group=group, env=env, db_url=db_url, redis_url=redis_url, qc_dir=qc_dir)
    log(f"bench database {urlsplit(db_url).path.lstrip('/')} ({'created' if created else 'kept'}); migrating")
    stack.manage("migrate", "--noinput", "-v", "0")
    create_floor_table(db_url)
    return stack
