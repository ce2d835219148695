"""Child processes of a local stack: start each in its own session, wait until it answers, stop it by PID.

Every process gets its own session, so its PID is also its process-group id: stopping it signals the
whole group (uvicorn and Celery fork or spawn workers) by the PID we recorded, never by a program name that
could match someone else's process on a shared machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The ephemeral range starts here: above it, a client socket could take the port before our server.
PORT_CEILING = 32768


def free_port(start: int) -> int:
    """First free loopback port at or above ``start``, below the ephemeral range."""
    port = start
    while port < PORT_CEILING:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
        port += 1
    raise RuntimeError(f"no free port between {start} and {PORT_CEILING - 1}")


def _check_alive(proc: subprocess.Popen[bytes] | None, what: str) -> None:
    if proc is not None and proc.poll() is not None:
        raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before {what}")


def wait_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until something listens on 127.0.0.1:``port``; fails early when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(proc, f"listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def wait_http(url: str, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> httpx.Response:
    """Until ``GET url`` answers 200 (a listening socket is not yet a ready application)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        _check_alive(proc, f"{url} answered")
        try:
            response = httpx.get(url, timeout=5)
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        else:
            if response.status_code == 200:
                return response
            last = f"HTTP {response.status_code}"
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:.0f}s ({last})")


@dataclass
class Process:
    """One started program: what was run (so it can be started again) and its ``Popen``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log_path: Path | None
    ready_url: str | None = None  # answered 200 once the process was ready

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None


@dataclass
class ProcessGroup:
    """Owns the processes of one stack; ``stop_all`` stops each by its PID (its process group).

    With a ``log_dir`` each process appends to ``<log_dir>/<name>.log``; without one it shares this
    process's terminal (``make run``).
    """

    log_dir: Path | None = None
    procs: list[Process] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path = ROOT) -> Process:
        log_path = None
        handle = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            handle = log_path.open("ab")
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT if handle else None,
                start_new_session=True,
            )
        finally:
            if handle is not None:
                handle.close()
        process = Process(name=name, argv=list(argv), env=dict(env), proc=proc, log_path=log_path)
        self.procs.append(process)
        return process

    def stop(self, process: Process, *, timeout: float = 15.0) -> None:
        """SIGTERM the group, SIGKILL what is left after ``timeout``; safe on a process already dead."""
        proc = process.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Forked children that outlived their master (same group) get a last SIGKILL.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if process in self.procs:
            self.procs.remove(process)

    def kill(self, process: Process) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown): a worker's master and its pool."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.proc.wait(timeout=10)
        if process in self.procs:
            self.procs.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.procs)):
            self.stop(process)
