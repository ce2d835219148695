"""Processes the bench starts: launch, wait for a port, sample CPU from /proc, stop by PID.

Every process is started in its own session so that stopping it can signal its whole group (gunicorn
and Celery fork workers) by the PID we recorded, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def free_port(start: int) -> int:
    """First free loopback port at or above ``start`` (kept below the ephemeral range, 32768)."""
    port = start
    while port < 32768:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return port
        port += 1
    raise RuntimeError(f"no free port between {start} and 32767")


def wait_port(port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def children_of(pid: int) -> list[int]:
    """Direct and indirect children, from /proc/<pid>/task/*/children."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for kid in kids:
                found.append(int(kid))
                stack.append(int(kid))
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the given processes (children that exited are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the ")" field 3 is state, so utime/stime (fields 14/15) are at indices 11/12.
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


@dataclass
class Managed:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tree(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def cpu(self) -> float:
        return cpu_seconds(self.tree())


@dataclass
class ProcessGroup:
    """Owns the processes of one stack; ``stop_all`` stops each by its PID (its process group)."""

    log_dir: Path
    procs: list[Managed] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> Managed:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        handle = log_path.open("ab")
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        managed = Managed(name=name, proc=proc, log_path=log_path)
        self.procs.append(managed)
        return managed

    def stop(self, managed: Managed, *, timeout: float = 15.0) -> None:
        proc = managed.proc
        if proc.poll() is None:
            # The group id is the PID we started (start_new_session): workers go with their master.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Forked children that outlived their master (same group) get a last SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if managed in self.procs:
            self.procs.remove(managed)

    def stop_all(self) -> None:
        for managed in reversed(list(self.procs)):
            self.stop(managed)
