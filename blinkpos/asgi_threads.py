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

Such a request also does all its sync work in ONE hop to that thread. Django's ``handle`` goes to the
thread for the ``request_started`` receivers, again for the outer middleware, back to the event loop
for its async inner handler (URL resolution, view middleware), to the thread again for the view, and
once more to close the response: five switches, each a context copy, a future and two thread
wake-ups, about a CPU millisecond apiece here (docs/PERFORMANCE.md, issue 22). Here the same middleware
list is also loaded in sync mode, as a WSGI server runs it, and one ``sync_to_async`` call sends
``request_started``, builds the request, runs that chain and, for a response whose body is already in
memory, closes it (``request_finished``: the database connection is released before the bytes go
out, as it would be right after them). The event loop reads the body before and sends the response
after, with Django's own ``read_body`` and ``send_response``; a streaming response (a file) is closed
after it was sent, on the same thread. A client that goes away meanwhile is noticed when the answer
is sent (uvicorn drops it), as under a WSGI server: the sync work was never cancellable anyway.

Requests to async views (the status streams: payments/api/status_events.py) keep Django's own
per-request context and async chain: an open stream may last hours and must not hold a pooled
thread; those views let their request thread go themselves once the body starts.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import Resolver404, get_resolver, set_script_prefix

Scope = dict[str, Any]


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
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self._handle_sync_view(scope, receive, send)
        finally:
            free.put_nowait(executor)

    async def _handle_sync_view(self, scope: Scope, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            # The request's borrowed thread (thread_sensitive, inside its ThreadSensitiveContext).
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope: Scope, body_file: IO[bytes]) -> HttpResponseBase:
        """Everything Django's ``handle`` does on the thread, in its order, in one call."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # create_request returns one or the other
            response: HttpResponseBase = error_response
        else:
            response = self._sync.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]  # as run_get_response does
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # the body is in memory; request_finished on this thread
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
