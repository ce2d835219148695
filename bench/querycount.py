"""Count SQL statements per web worker, only in bench mode (BLINKPOS_BENCH_QC_DIR set).

pg_stat_statements is rarely preloaded on a developer's server, and pg_stat_database only counts
transactions, flushed lazily. So the bench counts what the web processes actually send: an execute
wrapper on every Django connection adds one to a per-process 8-byte counter in a memory-mapped file
``<dir>/<pid>.qc``. The bench sums the files before and after a load; the cost is one locked
integer add per statement.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_state: dict[int, mmap.mmap] = {}
_MARK = "_bench_query_counter"


def _counter() -> mmap.mmap | None:
    directory = os.environ.get("BLINKPOS_BENCH_QC_DIR")
    if not directory:
        return None
    pid = os.getpid()
    mapped = _state.get(pid)
    if mapped is None:
        path = Path(directory) / f"{pid}.qc"
        with path.open("wb") as handle:
            handle.write(b"\0" * 8)
        with path.open("r+b") as handle:
            mapped = mmap.mmap(handle.fileno(), 8)
        _state[pid] = mapped
    return mapped


def _wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    with _lock:
        mapped = _counter()
        if mapped is not None:
            (value,) = struct.unpack_from("<Q", mapped, 0)
            struct.pack_into("<Q", mapped, 0, value + 1)
    return execute(sql, params, many, context)


def _attach(connection: Any) -> None:
    if not getattr(connection, _MARK, False):
        connection.execute_wrappers.append(_wrapper)
        setattr(connection, _MARK, True)


def install() -> None:
    """Wrap every Django connection of this process (current and future threads)."""
    if not os.environ.get("BLINKPOS_BENCH_QC_DIR"):
        return
    from django.db import connections
    from django.db.backends.signals import connection_created

    def on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
        _attach(connection)

    connection_created.connect(on_created, weak=False, dispatch_uid="bench-query-counter")
    for conn in connections.all(initialized_only=True):
        _attach(conn)


def read_total(directory: Path) -> int:
    total = 0
    for path in directory.glob("*.qc"):
        try:
            total += struct.unpack("<Q", path.read_bytes()[:8])[0]
        except (OSError, struct.error):
            continue
    return total
