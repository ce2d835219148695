"""Shared fixtures: every test runs against the real PostgreSQL and Redis the settings point at.

Redis is flushed before each test (tests own the Redis database they are given) so hot-store keys
and counters never leak between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django_redis import get_redis_connection

from payments import store


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    get_redis_connection(store.HOT_ALIAS).flushdb()
    store._pending_counts.clear()
    yield
