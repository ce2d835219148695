"""Start BlinkPOS on one machine the way ``make run`` does, and stop every process by its PID.

The one launcher behind ``make run`` (``blinkpos.runstack``), the benchmarks (``bench``), the chaos
soak (``chaos``) and tests that need the whole stack: migrate, collectstatic, the fake Blink, the
demo data (``seed_demo``), Celery workers, beat and the ASGI web tier (uvicorn). The fake Blink runs as its own process
(``python -m fakeblink``) and is never imported here: the product does not depend on the test double.

Readiness is checked where it can be seen: the fake's ``/control/health`` (which also gives the
platform wallet id the app is then configured with) and the web's ``/health`` (PostgreSQL and Redis
answer). Each process runs in its own session and is stopped through its process group, by PID.

From a pytest fixture::

    with running_stack(log_dir=tmp_path) as stack:   # free ports below 32768, stopped on exit
        httpx.get(f"{stack.base_url}/health")
        httpx.post(f"{stack.fake_control_url}/pay", json={"payment_hash": ...})
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from blinkpos.celery_queues import FORWARDING, MAINTENANCE, WEBHOOKS_IN, WEBHOOKS_OUT
from blinkpos.processes import ROOT, Process, ProcessGroup, free_port, wait_http

PY = sys.executable
DEFAULT_SETTINGS = "blinkpos.settings.dev"
FAKE_READY_SECONDS = 30.0
# The Celery workers of a stack, by the queues they consume (blinkpos/celery_queues.py): forwarding
# never waits behind maintenance or a merchant's slow webhook receiver. The money worker keeps the
# name "worker" (bench and tests address it).
QUEUE_WORKERS: dict[str, tuple[str, ...]] = {
    "worker": (FORWARDING, WEBHOOKS_IN),
    "worker-webhooks": (WEBHOOKS_OUT,),
    "worker-maintenance": (MAINTENANCE,),
}
# Background queues need less than the stack's default concurrency.
WORKER_CONCURRENCY = {"worker-webhooks": 1, "worker-maintenance": 1}
WEB_READY_SECONDS = 120.0  # every web worker imports Django; a shared 2-core machine is slow


def fresh_credentials() -> dict[str, str]:
    """A platform key and webhook secret for a stack that talks to the fake Blink, new for every stack
    (the fake and the app both read them from the environment built here)."""
    return {
        "BLINK_API_KEY": "blink_" + secrets.token_hex(16),
        "BLINK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


class Stack:
    """The processes of one BlinkPOS stack.

    ``fake_port=None`` runs against the Blink configured in the environment (no fake, no demo data).
    ``env`` is the base environment (default: this process's); the settings module, fresh fake
    credentials and then ``extra_env`` are laid over it, so ``extra_env`` wins. ``stack.env`` is what
    every process gets; change it before starting a process to change that process's environment.
    """

    def __init__(
        self,
        *,
        web_port: int = 8000,
        fake_port: int | None = 8089,
        host: str = "127.0.0.1",
        settings_module: str = DEFAULT_SETTINGS,
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        autopay_seconds: float | None = 8.0,
        fake_demo: bool = True,
        fake_webhooks: bool = True,
        fake_seed: int | None = None,
        fake_limits: bool = True,
        web_workers: int = 2,
        workers: Mapping[str, Sequence[str]] | None = None,
        worker_concurrency: int = 2,
        log_level: str = "INFO",
        log_dir: Path | None = None,
        collect_static: bool = True,
        group: ProcessGroup | None = None,
    ) -> None:
        self.web_port, self.fake_port, self.host = web_port, fake_port, host
        self.settings_module = settings_module
        self.autopay_seconds, self.fake_demo, self.fake_webhooks = autopay_seconds, fake_demo, fake_webhooks
        self.fake_seed = fake_seed
        # Blink's invoice rate and daily intraledger limits in the fake (fakeblink/limits.py): on for the
        # demo, so a merchant sees the real behaviour; load runs (bench, chaos) turn them off.
        self.fake_limits = fake_limits
        self.web_workers = web_workers
        # name -> the queues it consumes (empty: all of them); default: a worker per group of queues.
        self.workers = dict(QUEUE_WORKERS if workers is None else workers)
        self.worker_concurrency = worker_concurrency
        self.log_level, self.log_dir, self.collect_static = log_level, log_dir, collect_static
        self.group = group if group is not None else ProcessGroup(log_dir)
        self.processes: dict[str, Process] = {}
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.env["DJANGO_SETTINGS_MODULE"] = settings_module
        # The fake's outside LNURL host (Lightning addresses beyond Blink), two ports above the fake.
        self.outside_lnurl_port = fake_port + 2 if fake_port is not None else None
        if fake_port is not None:
            self.env.update(fresh_credentials())
            self.env["BLINK_API_URL"] = self.fake_graphql_url
            # Exactly that host may be fetched over plain http on loopback (never in production).
            self.env["LNURL_ALLOW_HTTP_HOSTS"] = self.outside_lnurl_host
            self.env["DEMO_OUTSIDE_LIGHTNING_ADDRESS"] = f"dave@{self.outside_lnurl_host}"
        self.env.update(extra_env or {})

    # -- addresses ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        connect = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104  (not a bind)
        return f"http://{connect}:{self.web_port}"

    @property
    def fake_url(self) -> str:
        if self.fake_port is None:
            raise RuntimeError("this stack runs without the fake Blink")
        return f"http://127.0.0.1:{self.fake_port}"

    @property
    def outside_lnurl_host(self) -> str:
        return f"127.0.0.1:{self.outside_lnurl_port}"

    @property
    def fake_graphql_url(self) -> str:
        return f"{self.fake_url}/graphql"

    @property
    def fake_control_url(self) -> str:
        return f"{self.fake_url}/control"

    # -- one piece at a time ---------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 600.0) -> None:
        """``manage.py ARGS`` in the stack's environment; output to ``manage.log`` or the terminal."""
        handle = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            handle = (self.log_dir / "manage.log").open("ab")
        try:
            subprocess.run(
                [PY, "manage.py", *args],
                cwd=ROOT,
                env=self.env,
                check=True,
                timeout=timeout,
                stdout=handle,
                stderr=subprocess.STDOUT if handle else None,
            )
        finally:
            if handle is not None:
                handle.close()

    def prepare(self) -> None:
        """Migrations, then the static files the web app serves."""
        self.manage("migrate", "--noinput", "-v", "0")
        if self.collect_static:
            self.manage("collectstatic", "--noinput", "-v", "0")

    def spawn(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> Process:
        """Start ``argv`` as process ``name`` (replacing a stopped one of that name) without waiting."""
        old = self.processes.get(name)
        if old is not None and old.running():
            raise RuntimeError(f"{name} is already running (pid {old.pid})")
        if old is not None:
            self.group.stop(old)  # reaps it and whatever its group left behind
        process = self.group.start(name, argv, env=dict(self.env if env is None else env))
        self.processes[name] = process
        return process

    def start_fake(self, *, env: Mapping[str, str] | None = None) -> Process:
        ready_url = f"{self.fake_control_url}/health"  # raises first when the stack has no fake port
        argv = [PY, "-m", "fakeblink", "--port", str(self.fake_port)]
        argv += ["--platform-api-key-env", "BLINK_API_KEY", "--webhook-secret-env", "BLINK_WEBHOOK_SECRET"]
        if self.fake_demo:
            argv.append("--demo")
        if self.outside_lnurl_port is not None:
            argv += ["--outside-lnurl-port", str(self.outside_lnurl_port)]
        if self.fake_webhooks:
            argv += ["--webhook-url", f"{self.base_url}/webhooks/blink"]
        if self.autopay_seconds is not None:
            argv += ["--autopay", str(self.autopay_seconds)]
        if self.fake_seed is not None:
            argv += ["--seed", str(self.fake_seed)]
        if not self.fake_limits:
            argv.append("--no-limits")
        process = self.spawn("fake-blink", argv, env=env)
        self._wait_ready(process, ready_url, FAKE_READY_SECONDS)
        return process

    def start_worker(
        self,
        name: str = "worker",
        *,
        queues: Sequence[str] = (),
        concurrency: int | None = None,
        nice: int = 0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Process:
        """A Celery worker. ``nice`` > 0 lowers its CPU priority below the web tier's (background work
        measured in seconds beside requests answered in milliseconds). ``queues`` empty: every queue."""
        argv = ["nice", "-n", str(nice)] if nice > 0 else []
        argv += [PY, "-m", "celery", "-A", "blinkpos", "worker", "-n", f"{name}@%h"]
        argv += ["--concurrency", str(concurrency or self.worker_concurrency), "--loglevel", self.log_level]
        if queues:
            argv += ["-Q", ",".join(queues)]
        # A local stack has no peer workers to synchronise with; skipping that makes startup faster.
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", *extra_args]
        return self.spawn(name, argv, env=env)

    def start_beat(self, *, env: Mapping[str, str] | None = None) -> Process:
        # The schedule lives in the database (django-celery-beat), so beat keeps no state file.
        return self.spawn("beat", [PY, "-m", "celery", "-A", "blinkpos", "beat", "--loglevel", self.log_level], env=env)

    def start_web(
        self,
        *,
        workers: int | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        name: str = "web",
        port: int | None = None,
    ) -> Process:
        """The web tier on ``port`` (default: the stack's web port): uvicorn worker processes serving the
        ASGI app (``blinkpos.webserver``), so an open status stream holds no thread. Another ``name``
        and ``port`` start a second web node beside the first (make cluster)."""
        port = port or self.web_port
        argv = [PY, "-m", "blinkpos.webserver", "blinkpos.asgi:application", "--host", self.host, "--port", str(port)]
        argv += ["--workers", str(workers or self.web_workers), "--lifespan", "off", "--no-access-log"]
        argv += ["--log-level", self.log_level.lower(), "--timeout-graceful-shutdown", "5", *extra_args]
        process = self.spawn(name, argv, env=env)
        node_url = f"{self.base_url.rsplit(':', 1)[0]}:{port}"
        self._wait_ready(process, f"{node_url}/health", WEB_READY_SECONDS)
        return process

    def _wait_ready(self, process: Process, url: str, timeout: float) -> None:
        process.ready_url = url
        try:
            answer = wait_http(url, timeout=timeout, proc=process.proc)
        except (RuntimeError, TimeoutError) as exc:
            where = f"; log: {process.log_path}" if process.log_path else ""
            raise RuntimeError(f"{process.name} did not become ready: {exc}{where}") from exc
        if process.name == "fake-blink":
            # The app then names the platform wallet instead of discovering it on first use.
            self.env["BLINK_WALLET_ID"] = answer.json()["platform_wallet_id"]

    # -- the whole stack -------------------------------------------------------------------------

    def start(self) -> Stack:
        """Everything, in the order ``make run`` needs: a ready fake before the demo data that resolves
        its usernames, workers and beat before the web server that queues work for them."""
        self.prepare()
        if self.fake_port is not None:
            self.start_fake()
            if self.fake_demo:
                self.manage("seed_demo")
        for name, queues in self.workers.items():
            self.start_worker(name, queues=queues, concurrency=WORKER_CONCURRENCY.get(name))
        self.start_beat()
        self.start_web()
        return self

    def restart(self, name: str, *, env: Mapping[str, str] | None = None) -> Process:
        """Stop ``name`` if it still runs and start it again with the same command line, in ``env``
        (default: the stack's current environment); waits for readiness where the first start did."""
        old = self.processes[name]
        self.group.stop(old)
        process = self.spawn(name, old.argv, env=env)
        if old.ready_url is not None:
            timeout = FAKE_READY_SECONDS if name == "fake-blink" else WEB_READY_SECONDS
            self._wait_ready(process, old.ready_url, timeout)
        return process

    def kill(self, name: str) -> int:
        """SIGKILL ``name``'s process group (a crash); returns the PID it had."""
        process = self.processes[name]
        self.group.kill(process)
        return process.pid

    def stop_process(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            self.group.stop(process)

    def dead(self) -> list[Process]:
        """Processes that exited on their own (a stopped or killed one is no longer listed)."""
        return [p for p in self.processes.values() if p in self.group.procs and not p.running()]

    def stop(self) -> None:
        """Stop every process by its PID, the last started first (the web server before its workers)."""
        for name in reversed(list(self.processes)):
            self.stop_process(name)

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_stack(**options: Any) -> Iterator[Stack]:
    """A started stack on free loopback ports below 32768, stopped when the block ends (also when
    starting fails half-way). ``options`` are ``Stack``'s; ports not given are picked here."""
    # Concurrent suites on one machine (CI, parallel checkouts) start their search at different ports,
    # so two stacks rarely race for the same free port.
    web_port = options.pop("web_port", None) or free_port(18000 + (os.getpid() * 7) % 10000)
    fake_port = options.pop("fake_port", None) or free_port(web_port + 1)
    with Stack(web_port=web_port, fake_port=fake_port, **options) as stack:
        yield stack.start()
