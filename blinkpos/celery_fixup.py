"""Celery's Django fix-up, keeping each worker process's PostgreSQL connection pool between tasks.

Celery's own fix-up (``celery.fixups.django``) closes Django's connection pool around EVERY task of a
prefork child (``_close_database`` -> ``close_pool``): each task then built a new pool, i.e. opened
``PG_POOL_MIN`` + 1 new PostgreSQL connections (3 by default) and configured each one, on the money path
(issue 22: that was several CPU ms per webhook task, and the first query of each task waited for a
connection). Here the task boundaries do what Django's request boundaries do on the web tier
(``close_if_unusable_or_obsolete``): the connection goes back to the pool, or is dropped when it is
broken or was left in a transaction. Everything else is Celery's: a forked child still closes what it
inherited from the parent (its pool is created after the fork), and the parent's start-up close too.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup  # type: ignore[attr-defined]  # not in the stubs
from django.db import connections


class PooledWorkerFixup(DjangoWorkerFixup):
    def on_worker_process_init(self, **kwargs: Any) -> None:
        super().on_worker_process_init(**kwargs)
        # Each prefork child builds its own Blink client (none survives a fork): now, not in the first
        # forward it runs. Imported here: the fix-up is installed before Django's apps are loaded.
        from payments.wallet.provider import warm_default_provider

        warm_default_provider()

    def on_task_prerun(self, sender: Any, **kwargs: Any) -> None:
        if not getattr(sender.request, "is_eager", False):
            _return_connections()

    def on_task_postrun(self, sender: Any, **kwargs: Any) -> None:
        if not getattr(sender.request, "is_eager", False):
            _return_connections()
            self.close_cache()


def _return_connections() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()


class PooledDjangoFixup(DjangoFixup):
    """Celery's Django fix-up with ``PooledWorkerFixup`` as its worker half (built when the worker
    starts: the app's configuration is not loaded yet when the fix-ups are installed)."""

    _worker_fixup: DjangoWorkerFixup | None  # set by DjangoFixup.__init__ (absent from the stubs)

    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = PooledWorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def fixup(app: Celery, env: str = "DJANGO_SETTINGS_MODULE") -> DjangoFixup | None:
    """Installed instead of Celery's built-in Django fix-up (``Celery(fixups=...)``), on the same
    condition (``celery.fixups.django.fixup``): a Django settings module is set."""
    if not os.environ.get(env) or "django" in str(app.loader_cls or "").lower():
        return None
    installed = PooledDjangoFixup(app)
    installed.install()
    return installed
