"""The process's threads for provider calls made beside a forward's own thread (issue 22): a split's
concurrent payout-invoice creates (``payout_batch``) and the send started ahead (``leg_sends``).

HTTP only, never the database: a pool thread shares no transaction with its caller. One pool per
process, built on first use (a forward used to start up to five threads of its own, each a few hundred
microseconds of CPU) and forgotten in a forked child, which does not inherit the parent's threads. Each
call runs in a copy of the caller's context, so its log lines carry the task's bound fields.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

# A sale's legs are few, and Blink limits invoice creation per account: more would queue here.
MAX_THREADS = 8

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def submit(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """Run ``fn(*args, **kwargs)`` on the process's provider threads, in a copy of the caller's context."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="provider-call")
        pool = _pool
    context = contextvars.copy_context()
    return pool.submit(lambda: context.run(fn, *args, **kwargs))


def _forget_after_fork() -> None:
    global _lock, _pool
    _lock = threading.Lock()
    _pool = None  # its threads do not exist in the child


os.register_at_fork(after_in_child=_forget_after_fork)
