"""blinkpos/redis_clients.py: one Redis client per pool per process, whatever the request context."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django_redis import get_redis_connection
from django_redis.pool import SentinelConnectionFactory

from blinkpos.redis_clients import SharedClientConnectionFactory, SharedClientSentinelConnectionFactory


def test_the_caches_use_the_shared_factory() -> None:
    for alias in ("default", "hot"):
        assert isinstance(caches[alias].client.connection_factory, SharedClientConnectionFactory)  # type: ignore[attr-defined]
    assert issubclass(SharedClientSentinelConnectionFactory, SentinelConnectionFactory)


def test_new_request_contexts_get_the_same_client_and_it_works() -> None:
    async def in_a_new_context() -> object:
        # Each asyncio task has its own context, as each ASGI request does: Django builds new cache
        # objects in it.
        return await sync_to_async(get_redis_connection, thread_sensitive=False)("hot")

    async def two() -> list[object]:
        return list(
            await asyncio.gather(asyncio.create_task(in_a_new_context()), asyncio.create_task(in_a_new_context()))
        )

    first, second = asyncio.run(two())
    assert first is second
    assert first is get_redis_connection("hot")
    client = get_redis_connection("hot")
    client.set("test:redis_clients", "1", ex=5)
    assert client.get("test:redis_clients") == b"1"


def test_one_shared_client_serves_many_threads_at_once() -> None:
    seen: list[object] = []

    def read() -> None:
        seen.append(get_redis_connection("default").ping())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True] * 8
