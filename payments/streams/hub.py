"""One Redis pub/sub connection per web process, shared by every open status stream in it.

5 000 open streams must not mean 5 000 Redis connections: the process's ``StatusHub`` subscribes once
to the change channel (payments/services/status_publish.py) and routes each message in memory to the
queues of the streams that want it, by invoice (``invoice:<hash>``) and by terminal (``terminal:<id>``).
Every process receives every change (a few small JSON messages per sale); per-invoice SUBSCRIBE calls
would only pay off with far more changes per second than a POS fleet makes.

A message is only a wake-up: the stream reads what it sends from PostgreSQL. When the connection
breaks (Redis restarted, failed over, network), the listener reconnects with a bounded backoff and,
once subscribed again, hands every stream a ``RESYNC``: each re-reads PostgreSQL, so a change published
while nobody listened (its final status included) is still sent. While disconnected, streams also
re-read PostgreSQL every second (see payments/api/status_events.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from blinkpos.logging import get_logger
from payments.services.status_publish import channel

log = get_logger(__name__)

QUEUE_SIZE = 256  # wake-ups waiting per stream; past that the stream re-reads everything once
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0  # seconds between reconnect attempts
LISTEN_TIMEOUT = 5.0  # how long one read waits before checking the connection again


@dataclass(frozen=True, slots=True)
class Wake:
    payment_hash: str
    event_id: int


RESYNC = Wake("", 0)  # "re-read PostgreSQL": the listener (re)connected or a queue overflowed


@dataclass(eq=False)
class Subscription:
    """One stream's place in the hub: ``await next(timeout)`` gives a ``Wake``, ``RESYNC`` or None."""

    hub: StatusHub
    key: str
    queue: asyncio.Queue[Wake] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    def offer(self, wake: Wake) -> None:
        try:
            self.queue.put_nowait(wake)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self, timeout: float) -> Wake | None:
        if self.overflowed:
            self.overflowed = False
            _drain(self.queue)
            return RESYNC
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.hub.unsubscribe(self)


def _drain(queue: asyncio.Queue[Wake]) -> None:
    while not queue.empty():
        queue.get_nowait()


def invoice_key(payment_hash: str) -> str:
    return f"invoice:{payment_hash}"


def terminal_key(terminal_id: int) -> str:
    return f"terminal:{terminal_id}"


def _client() -> aioredis.Redis:
    """The process's pub/sub client: ``STATUS_STREAM_REDIS_URL`` when set, else the Redis (or the
    Sentinel-named master) every other client uses (blinkpos/redis_config.py)."""
    override = getattr(settings, "STATUS_STREAM_REDIS_URL", "")
    target = settings.REDIS_TARGET
    options: dict[str, Any] = {"socket_connect_timeout": 1.0, "health_check_interval": 30}
    if not override and target.uses_sentinel:
        sentinel = Sentinel(list(target.sentinels), socket_timeout=1.0, socket_connect_timeout=1.0)
        return sentinel.master_for(target.master, db=target.db, password=target.password, **options)
    return aioredis.Redis.from_url(override or target.url, **options)


class StatusHub:
    """The listener of one event loop (one web process). Started by the first stream, runs until the
    process ends."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # successful (re)connects, for the tests and the logs

    @property
    def streams(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values())

    def subscribe(self, key: str) -> Subscription:
        subscription = Subscription(self, key)
        self._subscriptions.setdefault(key, set()).add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="status-hub")
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.key)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subscriptions[subscription.key]

    async def wait_connected(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def dispatch(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            wake = Wake(str(message["h"]), int(message["id"]))
            terminal = message.get("t")
        except (ValueError, KeyError, TypeError):
            log.warning("status_stream.bad_message")
            return
        keys = [invoice_key(wake.payment_hash)]
        if terminal is not None:
            keys.append(terminal_key(int(terminal)))
        for key in keys:
            for subscription in self._subscriptions.get(key, ()):
                subscription.offer(wake)

    def _resync_all(self) -> None:
        for subs in self._subscriptions.values():
            for subscription in subs:
                subscription.offer(RESYNC)

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            client = _client()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel())
                self.connected.set()
                self.connections += 1
                delay = BACKOFF_FIRST
                if self.connections > 1:
                    log.info("status_stream.reconnected", streams=self.streams)
                    self._resync_all()  # changes published while we were away were not heard
                while True:
                    message = await pubsub.get_message(timeout=LISTEN_TIMEOUT)
                    if message is not None and message.get("type") == "message":
                        self.dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("status_stream.disconnected", error=exc.__class__.__name__, streams=self.streams)
                self.connected.clear()
            finally:
                self.connected.clear()
                await _close_quietly(pubsub, client)
            await asyncio.sleep(delay)
            delay = min(BACKOFF_MAX, delay * 2)


async def _close_quietly(pubsub: Any, client: aioredis.Redis) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError):
        pass  # the connection is already gone; nothing to release but the sockets Python closes


_HUBS: dict[asyncio.AbstractEventLoop, StatusHub] = {}


def get_hub() -> StatusHub:
    """The hub of the running event loop (one per uvicorn worker process)."""
    loop = asyncio.get_running_loop()
    hub = _HUBS.get(loop)
    if hub is None:
        for stale in [known for known in _HUBS if known.is_closed()]:
            del _HUBS[stale]
        hub = _HUBS[loop] = StatusHub()
    return hub
