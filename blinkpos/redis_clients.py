"""django-redis connection factories that hand out one Redis client per connection pool per process.

Django keeps its cache objects per request context, so under ASGI every request builds new
django-redis clients, and each builds a new ``redis.Redis``: its constructor copies some two hundred
response callbacks into a case-insensitive dict, about a third of a CPU millisecond for every request
that touches Redis (measured on the create, issue 22). The pools were already shared per process
(django-redis keeps them at class level); ``redis.Redis`` is thread-safe over its pool, so the client
can be shared the same way. Plugged in through django-redis's documented ``CONNECTION_FACTORY`` option
(blinkpos/settings/base.py), for a plain Redis and for Sentinel alike.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django_redis.pool import ConnectionFactory, SentinelConnectionFactory


class _SharedClients(ConnectionFactory):
    _clients: ClassVar[dict[tuple[int, type[Any]], Any]] = {}
    _clients_lock: ClassVar[threading.Lock] = threading.Lock()

    def get_connection(self, params: dict[str, Any]) -> Any:
        pool = self.get_or_create_connection_pool(params)
        key = (id(pool), self.redis_client_cls)
        client = self._clients.get(key)
        if client is None or client.connection_pool is not pool:
            with self._clients_lock:
                client = self._clients.get(key)
                if client is None or client.connection_pool is not pool:
                    client = self.redis_client_cls(connection_pool=pool, **self.redis_client_cls_kwargs)
                    self._clients[key] = client
        return client


class SharedClientConnectionFactory(_SharedClients):
    pass


class SharedClientSentinelConnectionFactory(_SharedClients, SentinelConnectionFactory):
    pass
