"""Fixtures for the maintenance jobs: a thread runner for "twice and concurrently" tests and a started
fake Blink when the root ``fake_blink`` fixture is not there."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from fakeblink import FakeBlink
from payments.wallet.provider import reset_wallet_provider
from tests.lnurl_support import point_lnurl_at


def run_concurrently(fn: Callable[[], Any], *, threads: int = 2) -> list[Any]:
    """Start ``threads`` threads on ``fn`` at the same moment; return their results, re-raise errors.
    Each thread has its own database connection (closed at the end)."""
    barrier = threading.Barrier(threads)
    results: list[Any] = [None] * threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = fn()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def blink(settings: Any) -> Iterator[FakeBlink]:
    """A started fake Blink with the provider pointed at it."""
    fake = FakeBlink(seed=5).start()
    settings.BLINK_API_URL = fake.url
    settings.BLINK_API_KEY = fake.platform_api_key
    settings.BLINK_WALLET_ID = fake.platform_wallet_id
    point_lnurl_at(settings, fake)
    reset_wallet_provider()
    try:
        yield fake
    finally:
        reset_wallet_provider()
        fake.stop()
