"""The worker's Django fix-up (blinkpos/celery_fixup.py): between tasks a connection goes back to its pool
(or is dropped when unusable), the pool itself is never closed there; the rest is Celery's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connections

from blinkpos.celery_app import app
from blinkpos.celery_fixup import PooledDjangoFixup, PooledWorkerFixup, fixup


def test_the_app_runs_the_pooled_fixup() -> None:
    installed = [f for f in app._fixups if isinstance(f, PooledDjangoFixup)]
    assert len(installed) == 1
    assert isinstance(installed[0].worker_fixup, PooledWorkerFixup)


def test_without_a_settings_module_nothing_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    assert fixup(app) is None


@pytest.mark.parametrize("hook", ["on_task_prerun", "on_task_postrun"])
def test_task_boundaries_return_connections_and_keep_the_pool(hook: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    conn: Any = connections["default"]
    monkeypatch.setattr(conn, "close_if_unusable_or_obsolete", lambda: calls.append("returned"))
    monkeypatch.setattr(conn, "close_pool", lambda: calls.append("pool_closed"), raising=False)
    monkeypatch.setattr(conn, "close", lambda: calls.append("closed"))
    monkeypatch.setattr(connections, "all", lambda initialized_only=False: [conn])
    worker_fixup = PooledWorkerFixup(app)

    getattr(worker_fixup, hook)(SimpleNamespace(request=SimpleNamespace(is_eager=False)))
    assert calls == ["returned"]
    calls.clear()
    getattr(worker_fixup, hook)(SimpleNamespace(request=SimpleNamespace(is_eager=True)))  # eager: not a worker
    assert calls == []


def test_a_new_worker_process_builds_its_blink_client_before_its_first_task(settings: Any) -> None:
    from payments.wallet import provider as provider_module

    provider_module.reset_wallet_provider()
    worker_fixup = PooledWorkerFixup(app)
    worker_fixup.on_worker_process_init()
    assert None in provider_module._clients  # the default account's client, built at process start
    first = provider_module._clients[None][1]
    assert provider_module.get_wallet_provider() is first  # and the one the first forward uses

    # without a key nothing is built and nothing is raised: the first use says what is missing
    provider_module.reset_wallet_provider()
    settings.BLINK_API_KEY = ""
    worker_fixup.on_worker_process_init()
    assert None not in provider_module._clients
