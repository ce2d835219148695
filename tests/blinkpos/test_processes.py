"""``blinkpos.processes``: a process and everything it forked stop together, by the PID we recorded."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from blinkpos.processes import PORT_CEILING, ProcessGroup, free_port, wait_port

# Forks a child that would outlive its parent, prints the child's PID, then waits.
PARENT_WITH_CHILD = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "print(child.pid, flush=True); time.sleep(120)"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def _child_pid(log: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text().strip()
        if text:
            return int(text.splitlines()[0])
        time.sleep(0.05)
    raise AssertionError("the parent never printed its child's PID")


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_stopping_a_process_ends_what_it_forked(tmp_path: Path, how: str) -> None:
    # given a process that forked a child, in its own session
    group = ProcessGroup(tmp_path)
    process = group.start("parent", [sys.executable, "-c", PARENT_WITH_CHILD], env=dict(os.environ))
    assert process.log_path is not None
    child = _child_pid(process.log_path)
    assert _alive(child)

    # when it is stopped (or killed) by its PID
    getattr(group, how)(process)

    # then the child went with it, and the group no longer lists it
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    assert not process.running()
    assert group.procs == []


def test_stop_all_stops_every_process_the_group_started(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path)
    sleepers = [
        group.start(f"sleeper-{i}", [sys.executable, "-c", "import time; time.sleep(120)"], env=dict(os.environ))
        for i in range(2)
    ]

    group.stop_all()

    assert [p.running() for p in sleepers] == [False, False]
    assert {p.log_path for p in sleepers} == {tmp_path / "sleeper-0.log", tmp_path / "sleeper-1.log"}


def test_wait_port_fails_early_when_the_process_exits(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path)
    process = group.start("quitter", [sys.executable, "-c", "raise SystemExit(3)"], env=dict(os.environ))

    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_port(free_port(20000), timeout=20, proc=process.proc)


def test_free_port_stays_below_the_ephemeral_range() -> None:
    port = free_port(PORT_CEILING - 50)

    assert PORT_CEILING - 50 <= port < PORT_CEILING
    with pytest.raises(RuntimeError, match="no free port"):
        free_port(PORT_CEILING)
