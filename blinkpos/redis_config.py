"""Redis addresses for every client: django-redis (cache, hot store, rate limits), the Celery broker and
the queue-depth readers, either one ``REDIS_URL`` or a Sentinel-managed master.

With ``REDIS_SENTINELS`` (``host:port,host:port,…``) and ``REDIS_SENTINEL_MASTER`` set, every client
asks the Sentinels for the current master and follows a failover on its next connection error. The
database number still comes from ``REDIS_URL``'s path (its host is then unused). All clients talk to
the master only: the hot store and the rate limiter must read what they just wrote, which a Redis
replica does not promise.

The fast paths' Lua script (payments/api/fast_gate.py) is reloaded on the new master after a failover
(NOSCRIPT falls back to EVAL). It is not Redis Cluster-safe: one call touches the auth counters, the
rate counters and the split's key, which Cluster would put in different hash slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.sentinel import Sentinel


@dataclass(frozen=True)
class RedisTarget:
    url: str  # REDIS_URL: the server (no Sentinels) or, with Sentinels, only its database number
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    @property
    def db(self) -> int:
        path = urlsplit(self.url).path.lstrip("/")
        return int(path) if path.isdigit() else 0

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password


def parse_sentinels(values: list[str]) -> tuple[tuple[str, int], ...]:
    """``["h1:26379", "h2:26380"]`` → ``(("h1", 26379), ("h2", 26380))``; a missing port is 26379."""
    parsed = []
    for value in values:
        host, _, port = value.strip().rpartition(":") if ":" in value else (value.strip(), "", "26379")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {value!r} is not host:port")
        parsed.append((host, int(port)))
    return tuple(parsed)


def cache_location_and_options(target: RedisTarget) -> tuple[str, dict[str, Any]]:
    """django-redis LOCATION and the OPTIONS that select the master (through Sentinel when set). The
    connection factories share one client per pool per process (blinkpos/redis_clients.py)."""
    if not target.uses_sentinel:
        return target.url, {"CONNECTION_FACTORY": "blinkpos.redis_clients.SharedClientConnectionFactory"}
    # The host part of the URL names the Sentinel service; is_master=1 keeps every command on the master.
    auth = f":{target.password}@" if target.password else ""
    location = f"redis://{auth}{target.master}/{target.db}?is_master=1"
    return location, {
        "CONNECTION_FACTORY": "blinkpos.redis_clients.SharedClientSentinelConnectionFactory",
        "SENTINELS": list(target.sentinels),
    }


def celery_broker(target: RedisTarget) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and the transport options it adds (kombu's ``sentinel://`` transport)."""
    if not target.uses_sentinel:
        return target.url, {}
    auth = f":{target.password}@" if target.password else ""
    url = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels)
    return url, {"master_name": target.master}


def broker_client(*, timeout: float) -> redis.Redis:
    """A client on the broker's Redis for reading queue depths (the admin, the console, metrics)."""
    from django.conf import settings  # settings import this module, so not at the top

    target: RedisTarget = settings.REDIS_TARGET
    broker_url: str = settings.CELERY_BROKER_URL
    if target.uses_sentinel and broker_url.startswith("sentinel://"):
        sentinel = Sentinel(list(target.sentinels), socket_timeout=timeout, socket_connect_timeout=timeout)
        return sentinel.master_for(
            target.master,
            db=target.db,
            password=target.password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
    return redis.Redis.from_url(broker_url, socket_connect_timeout=timeout, socket_timeout=timeout)
