"""The per-process listener's pieces that need no server: its Redis client follows Sentinel like every
other client, and a malformed pub/sub message is dropped without waking anyone."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.sentinel import SentinelConnectionPool

from blinkpos.redis_config import RedisTarget
from payments.streams import hub


def test_with_sentinels_the_listener_asks_them_for_the_master(settings: Any) -> None:
    settings.STATUS_STREAM_REDIS_URL = ""
    settings.REDIS_TARGET = RedisTarget(url="redis://ignored:1/7", sentinels=(("127.0.0.1", 26379),), master="pos")
    client = hub._client()
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.service_name == "pos"


def test_messages_wake_the_streams_of_that_invoice_and_terminal_only() -> None:
    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        status_hub = hub.StatusHub()
        status_hub._task = asyncio.get_running_loop().create_future()  # type: ignore[assignment]  # no listener
        invoice = status_hub.subscribe(hub.invoice_key("ab" * 32))
        terminal = status_hub.subscribe(hub.terminal_key(7))
        other = status_hub.subscribe(hub.terminal_key(8))
        for raw in (b'{"h": "' + b"ab" * 32 + b'", "t": 7, "id": 5}', b"not json", b'{"h": "x"}', b'{"id": "z"}'):
            status_hub.dispatch(raw)
        drained = []
        for subscription in (invoice, terminal, other):
            got = []
            while not subscription.queue.empty():
                got.append(subscription.queue.get_nowait())
            drained.append(got)
        return drained[0], drained[1], drained[2]

    invoice, terminal, other = asyncio.run(scenario())
    assert invoice == [hub.Wake("ab" * 32, 5)]
    assert terminal == [hub.Wake("ab" * 32, 5)]
    assert other == []
