"""CPU accounting for the processes the bench starts (``blinkpos.processes`` starts and stops them):
a process and its forked children, sampled from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


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


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (the uvicorn supervisor and its workers)."""
    return cpu_seconds([pid, *children_of(pid)])
