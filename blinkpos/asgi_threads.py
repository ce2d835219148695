"""Django's ASGI handler with each ordinary request's sync work on a reused thread.

Django's ``ASGIHandler`` enters a fresh ``ThreadSensitiveContext`` per request: asgiref then starts a
one-thread executor for the request's sync middleware and view, and at the end starts a second thread
to join the first. Two thread starts per request, and every per-thread object (the database wrapper,
the cache clients, the translation state) is built again each time: about a CPU millisecond per
request, measured (docs/PERFORMANCE.md, issue 22), which is what a status poll or a webhook
acknowledgement costs in all.

Here a request to a sync view borrows one of ``threads`` long-lived one-thread executors for its whole
length, through asgiref's own ``ThreadSensitiveContext(executor=...)`` (the caller owns the executor;
asgiref does not shut it down on exit). Sync code of one request still runs on one thread, as Django
requires; the thread is simply reused by the next request, as a gthread worker's threads were. A
request arriving while all are busy waits for one on the event loop (its connection is accepted).

Such a request also runs its middleware and view in ONE hop to that thread. Django's handler loads
the middleware in async mode: with sync middleware (ours are) it goes to the thread for the outer
middleware, back to the event loop for its async inner handler (URL resolution, view middleware), and
to the thread again for the view: three thread switches where a sync chain needs one. Here the same
middleware list is also loaded in sync mode, as a WSGI server runs it, and a sync view's request goes
through that chain in a single ``sync_to_async`` call. Everything around it (reading the body, the
request signals, sending, closing, disconnects) is Django's ``handle``, unchanged.

Requests to async views (the status streams: payments/api/status_events.py) keep Django's own
per-request context and async chain: an open stream may last hours and must not hold a pooled
thread; those views let their request thread go themselves once the body starts.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import Resolver404, get_resolver

Scope = dict[str, Any]

# Set for the length of a request to a sync view (tasks Django's ``handle`` starts inherit it).
_SYNC_VIEW: ContextVar[bool] = ContextVar("blinkpos_sync_view", default=False)


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self, *, threads: int) -> None:
        super().__init__()
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self._free: asyncio.Queue[ThreadPoolExecutor] | None = None
        # The same middleware, loaded as a WSGI handler loads it: one sync chain, no async adapters.
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)

    def _pool(self) -> asyncio.Queue[ThreadPoolExecutor]:
        # Built on first use, inside the worker's event loop (after uvicorn forked the process).
        if self._free is None:
            # Last in, first out: the most recently used thread (its objects warm) serves next.
            free: asyncio.Queue[ThreadPoolExecutor] = asyncio.LifoQueue()
            for index in range(self.threads):
                free.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{index}"))
            self._free = free
        return self._free

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _async_view(scope):
            await super().__call__(scope, receive, send)
            return
        free = self._pool()
        executor = await free.get()
        marked = _SYNC_VIEW.set(True)
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            _SYNC_VIEW.reset(marked)
            free.put_nowait(executor)

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        if not _SYNC_VIEW.get():
            return await super().run_get_response(request)
        # The request's borrowed thread (thread_sensitive, inside its ThreadSensitiveContext).
        response: HttpResponseBase = await sync_to_async(self._sync.get_response, thread_sensitive=True)(request)
        # What Django's run_get_response does after its async chain.
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response


def _async_view(scope: Scope) -> bool:
    """Whether the request's URL resolves to an async view (Django's resolver, as the handler will)."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)
