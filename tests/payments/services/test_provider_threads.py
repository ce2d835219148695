"""payments/services/provider_threads.py: the process's threads for a forward's provider calls: reused
between calls, each call in a copy of the caller's context, and a forked child (a Celery prefork
worker) builds its own pool instead of using threads it does not have."""

from __future__ import annotations

import contextvars
import os
import threading

from payments.services import provider_threads

_bound: contextvars.ContextVar[str] = contextvars.ContextVar("bound", default="")


def _where() -> tuple[str, str]:
    return threading.current_thread().name, _bound.get()


def test_calls_run_on_reused_provider_threads_with_the_callers_context() -> None:
    token = _bound.set("split=42")
    try:
        first = [provider_threads.submit(_where).result(5) for _ in range(3)]
    finally:
        _bound.reset(token)
    assert {bound for _, bound in first} == {"split=42"}  # the task's log fields travel with the call
    assert all(name.startswith("provider-call") for name, _ in first)
    pool = provider_threads._pool
    provider_threads.submit(_where).result(5)
    assert provider_threads._pool is pool  # built once per process


def test_a_forked_child_builds_its_own_pool() -> None:
    provider_threads.submit(_where).result(5)  # the parent's pool exists, with live threads
    parent_pool = provider_threads._pool
    pid = os.fork()
    if pid == 0:  # the child: a call must work, on a pool of its own
        try:
            name, _ = provider_threads.submit(_where).result(5)
            ok = provider_threads._pool is not parent_pool and name.startswith("provider-call")
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
