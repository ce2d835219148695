"""The real stack for the soak: its own PostgreSQL and Redis (``blinkpos.devservices``' restartable
servers), and the processes of ``blinkpos.stack`` (the fake Blink as ``python -m fakeblink``,
the uvicorn web tier, two Celery worker processes and beat), each in its own session, so a SIGKILL of a worker
takes its pool children with it and stopping is by the PID we recorded.

What the soak adds: per-run secrets the scanner looks for, fault points in a restarted process's
environment, and a supervisor that restarts a process that died on its own and records it as a crash.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blinkpos.devservices import EmbeddedPostgres, EmbeddedRedis
from blinkpos.processes import ROOT, Process, free_port
from blinkpos.stack import Stack

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


def run_djtool(env: dict[str, str], log_dir: Path, *args: str, timeout: float = 600) -> dict[str, Any]:
    """``python -m chaos.djtool ARGS`` in ``env``; its JSON result (setup, reconcile, state, invariants)."""
    done = subprocess.run(
        [PY, "-m", "chaos.djtool", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    # Log lines go to stderr; keep them with the run's logs (the secret scan reads them too).
    with (log_dir / "djtool.log").open("a") as handle:
        handle.write(done.stderr)
    marker = done.stdout.rfind("@@RESULT@@")
    if done.returncode != 0 or marker < 0:
        raise RuntimeError(f"chaos.djtool {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout[marker + len("@@RESULT@@") :])
    return result


def _own_postgres() -> EmbeddedPostgres:
    return EmbeddedPostgres(database="blinkpos_chaos", label="chaos-pg", first_port=25432)


def _own_redis() -> EmbeddedRedis:
    # No persistence: a restart loses every key and every queued Celery message.
    return EmbeddedRedis(persist=False, label="chaos-redis", first_port=26379)


@dataclass
class ChaosStack:
    run_dir: Path
    seed: int
    pg: EmbeddedPostgres = field(default_factory=_own_postgres)
    redis: EmbeddedRedis = field(default_factory=_own_redis)
    secrets: dict[str, str] = field(default_factory=soak_secrets)
    stack: Stack | None = None
    restarts: dict[str, int] = field(default_factory=dict)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    # Processes started with a fault point: their death is the fault, not a crash.
    expect_exit: set[str] = field(default_factory=set)

    @property
    def launcher(self) -> Stack:
        if self.stack is None:
            raise RuntimeError("the chaos stack is not started")
        return self.stack

    @property
    def env(self) -> dict[str, str]:
        return self.launcher.env

    @property
    def procs(self) -> dict[str, Process]:
        return self.launcher.processes

    @property
    def base_url(self) -> str:
        return self.launcher.base_url

    @property
    def fake_url(self) -> str:
        return self.launcher.fake_url

    @property
    def outside_lnurl_host(self) -> str:
        """The fake's outside LNURL host (blinkpos/stack.py starts it and allows exactly it)."""
        return self.launcher.outside_lnurl_host

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, *, web_workers: int = 2) -> None:
        self.pg.start(fresh=True)
        self.redis.start()
        _log(f"own PostgreSQL on :{self.pg.port} ({self.pg.data_dir}), own Redis on :{self.redis.port}")
        web_port = free_port(18100)
        self.stack = Stack(
            web_port=web_port,
            fake_port=free_port(web_port + 1),
            settings_module="chaos.settings",
            extra_env={
                **self.secrets,
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.redis.url,
                "CELERY_BROKER_URL": self.redis.url,
                "DEBUG": "false",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
                # Below the fake's slow answer (2 s), so TIMEOUT_AFTER_APPLY_SLEEP is a client timeout.
                "BLINK_READ_TIMEOUT": "1.5",
                "BLINK_CONNECT_TIMEOUT": "1.0",
                "BLINK_INVOICE_RATE_POINTS": "100000000",  # the fake's limits are off: no per-account count either
                "API_RATE_LIMITS_JSON": json.dumps({"terminal": "1000000/min", "merchant": "1000000/min"}),
                "CACHE_TTLS_JSON": json.dumps({"lock": 5}),
                "FORWARD_RETRY_BASE_SECONDS": "2",
                # The daily-limit fault lasts seconds, not Blink's rolling 24 h: its waits are short too.
                "FORWARD_LIMIT_RETRY_SECONDS": "3,5,8,13,21",
                "PG_POOL_MIN": "1",
                "PG_POOL_MAX": "4",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            autopay_seconds=None,
            fake_demo=False,
            fake_seed=self.seed,
            fake_limits=False,  # far more than Blink's 60 invoices a minute on the one platform account
            web_workers=web_workers,
            workers={name: () for name in WORKER_NAMES},  # both consume every queue; chaos kills either
            log_dir=self.run_dir / "logs",
            collect_static=False,
        )
        self.env.pop("BLINKPOS_FAULT", None)
        self.stack.start()

    def manage(self, *args: str, timeout: float = 600) -> None:
        self.launcher.manage(*args, timeout=timeout)

    def djtool(self, *args: str, timeout: float = 600) -> dict[str, Any]:
        return run_djtool(self.env, self.run_dir / "logs", *args, timeout=timeout)

    # -- faults on processes --------------------------------------------------------------------

    def kill(self, name: str) -> int:
        """SIGKILL the process group (a worker's master and its pool children): a node crash."""
        return self.launcher.kill(name)

    def restart(self, name: str, *, fault: str | None = None) -> None:
        """Start ``name`` again; with ``fault`` it runs with that fault point armed and is expected to die."""
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.expect_exit.discard(name)
        env = dict(self.env)
        if fault:
            env["BLINKPOS_FAULT"] = fault
            self.expect_exit.add(name)
        self.launcher.restart(name, env=env)

    def supervise(self) -> list[str]:
        """Restart any process that died on its own (recorded: a crash is a finding, not a fault)."""
        revived = []
        for process in self.launcher.dead():
            if process.name not in self.expect_exit:
                self.crashes.append({"process": process.name, "exit_code": process.proc.returncode, "at": time.time()})
            self.restart(process.name)
            revived.append(process.name)
        return revived

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.redis.stop()
        self.pg.stop()
        # Keep the server log with the run's logs; the data folder itself is throwaway.
        if self.pg.data_dir is not None and (self.pg.data_dir / "server.log").exists():
            shutil.copy(self.pg.data_dir / "server.log", self.run_dir / "logs" / "postgres.log")
        self.pg.stop(remove=True)
        if self.redis.data_dir is not None:
            shutil.rmtree(self.redis.data_dir, ignore_errors=True)
