"""The real stack for the soak: its own PostgreSQL and Redis (``chaos.services``), the fake Blink as a
separate process (``manage.py fake_blink``), gunicorn, two Celery worker processes and beat.

Processes are started and stopped through ``bench.procs.ProcessGroup`` (each in its own session, so a
SIGKILL of a worker takes its pool children with it, and stopping is by the PID we recorded).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Managed, ProcessGroup, free_port, wait_port
from chaos.services import ChaosPostgres, ChaosRedis

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
WORKER_NAMES = ("worker-a", "worker-b")


def _log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


def soak_secrets() -> dict[str, str]:
    """Fresh secrets per run: the scanner then knows exactly which values must never appear."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "BLINK_API_KEY": "blink_" + secrets.token_hex(20),
        "BLINK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


@dataclass
class ChaosStack:
    run_dir: Path
    seed: int
    pg: ChaosPostgres = field(default_factory=ChaosPostgres)
    redis: ChaosRedis = field(default_factory=ChaosRedis)
    group: ProcessGroup = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=soak_secrets)
    web_port: int = 0
    fake_port: int = 0
    procs: dict[str, Managed] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    # Processes started with a fault point: their death is the fault, not a crash.
    expect_exit: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.group = ProcessGroup(log_dir=self.run_dir / "logs")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, *, web_workers: int = 2) -> None:
        self.pg.start(fresh=True)
        self.redis.start()
        _log(f"own PostgreSQL on :{self.pg.port} ({self.pg.data_dir}), own Redis on :{self.redis.port}")
        self.web_port = free_port(18100)
        self.fake_port = free_port(self.web_port + 1)
        self.env = {
            **os.environ,
            **self.secrets,
            "DJANGO_SETTINGS_MODULE": "chaos.settings",
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "BLINK_API_URL": f"{self.fake_url}/graphql",
            # Below the fake's slow answer (2 s), so TIMEOUT_AFTER_APPLY_SLEEP is a client timeout.
            "BLINK_READ_TIMEOUT": "1.5",
            "BLINK_CONNECT_TIMEOUT": "1.0",
            "API_RATE_LIMITS_JSON": json.dumps({"terminal": "1000000/min", "merchant": "1000000/min"}),
            "CACHE_TTLS_JSON": json.dumps({"lock": 5}),
            "FORWARD_RETRY_BASE_SECONDS": "2",
            "PG_POOL_MIN": "1",
            "PG_POOL_MAX": "4",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        self.env.pop("BLINKPOS_FAULT", None)
        self.manage("migrate", "--noinput", "-v", "0")
        self._start("fake-blink")
        health = httpx.get(f"{self.fake_url}/control/health", timeout=5).json()
        self.env["BLINK_WALLET_ID"] = health["platform_wallet_id"]
        self._web_workers = web_workers
        self._start("web")
        for name in WORKER_NAMES:
            self._start(name)
        self._start("beat")

    def _argv(self, name: str) -> list[str]:
        if name == "fake-blink":
            return [
                PY, "manage.py", "fake_blink", "--port", str(self.fake_port), "--seed", str(self.seed),
                "--webhook-url", f"{self.base_url}/webhooks/blink",
                "--webhook-secret-env", "BLINK_WEBHOOK_SECRET", "--platform-api-key-env", "BLINK_API_KEY",
            ]  # fmt: skip
        if name == "web":
            return [
                PY, "-m", "gunicorn", "blinkpos.wsgi:application", "--bind", f"127.0.0.1:{self.web_port}",
                "--workers", str(self._web_workers), "--worker-class", "gthread", "--threads", "4",
                "--timeout", "60", "--graceful-timeout", "5",
            ]  # fmt: skip
        if name in WORKER_NAMES:
            return [
                PY, "-m", "celery", "-A", "blinkpos", "worker", "--concurrency", "2", "-n", f"{name}@%h",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
        if name == "beat":
            schedule = str(self.run_dir / "celerybeat-schedule")
            return [PY, "-m", "celery", "-A", "blinkpos", "beat", "--loglevel", "INFO", "-s", schedule]
        raise KeyError(name)

    def _start(self, name: str, *, fault: str | None = None) -> Managed:
        env = dict(self.env)
        self.expect_exit.discard(name)
        if fault:
            env["BLINKPOS_FAULT"] = fault
            self.expect_exit.add(name)
        managed = self.group.start(name, self._argv(name), env=env, cwd=ROOT)
        self.procs[name] = managed
        if name == "fake-blink":
            wait_port(self.fake_port, timeout=30, proc=managed.proc)
        elif name == "web":
            wait_port(self.web_port, timeout=60, proc=managed.proc)
        return managed

    def manage(self, *args: str, timeout: float = 600) -> None:
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=timeout)

    def djtool(self, *args: str, timeout: float = 600) -> dict[str, Any]:
        done = subprocess.run(
            [PY, "-m", "chaos.djtool", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        # Log lines go to stderr; keep them with the run's logs (the secret scan reads them too).
        with (self.run_dir / "logs" / "djtool.log").open("a") as handle:
            handle.write(done.stderr)
        marker = done.stdout.rfind("@@RESULT@@")
        if done.returncode != 0 or marker < 0:
            raise RuntimeError(f"chaos.djtool {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout[marker + len("@@RESULT@@") :])
        return result

    # -- faults on processes --------------------------------------------------------------------

    def kill(self, name: str) -> int:
        """SIGKILL the process group (a worker's master and its pool children): a node crash."""
        managed = self.procs[name]
        pid = managed.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        managed.proc.wait(timeout=10)
        if managed in self.group.procs:
            self.group.procs.remove(managed)
        return pid

    def restart(self, name: str, *, fault: str | None = None) -> None:
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self._start(name, fault=fault)

    def supervise(self) -> list[str]:
        """Restart any process that died on its own (recorded: a crash is a finding, not a fault)."""
        revived = []
        for name, managed in list(self.procs.items()):
            code = managed.proc.poll()
            if code is not None:
                if name not in self.expect_exit:
                    self.crashes.append({"process": name, "exit_code": code, "at": time.time()})
                if managed in self.group.procs:
                    self.group.procs.remove(managed)
                self.restart(name)
                revived.append(name)
        return revived

    def stop(self) -> None:
        self.group.stop_all()
        self.redis.stop()
        self.pg.stop()
        # Keep the server log with the run's logs; the data folder itself is throwaway.
        if self.pg.data_dir is not None and (self.pg.data_dir / "server.log").exists():
            shutil.copy(self.pg.data_dir / "server.log", self.run_dir / "logs" / "postgres.log")
        self.pg.stop(remove=True)
        if self.redis.data_dir is not None:
            shutil.rmtree(self.redis.data_dir, ignore_errors=True)
