"""blinkpos/asgi_threads.py: sync requests run on a bounded set of reused threads, through the sync
middleware chain in one hop; async views (the status streams) keep Django's own per-request context and
async chain, and never hold one of them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished, request_started
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path

from blinkpos.asgi_threads import ReusedThreadsASGIHandler

_busy = {"now": 0, "most": 0}
_busy_lock = threading.Lock()


def sync_view(request: HttpRequest) -> HttpResponse:
    with _busy_lock:
        _busy["now"] += 1
        _busy["most"] = max(_busy["most"], _busy["now"])
    time.sleep(float(request.GET.get("sleep", "0")))
    with _busy_lock:
        _busy["now"] -= 1
    return HttpResponse(threading.current_thread().name)


async def async_view(request: HttpRequest) -> HttpResponse:
    name = await sync_to_async(lambda: threading.current_thread().name)()
    return HttpResponse(name)


def failing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


def streaming_view(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(f"part{n};".encode() for n in range(3))


urlpatterns = [
    path("t/sync", sync_view),
    path("t/async", async_view),
    path("t/fail", failing_view),
    path("t/stream", streaming_view),
]

_seen: list[tuple[str, str]] = []


class RecordingMiddleware:
    """A sync-only middleware (as ours are): records the thread it ran on and tags the response."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        _seen.append((request.path, threading.current_thread().name))
        response = self.get_response(request)
        response["X-Recorded"] = "yes"
        return response  # type: ignore[no-any-return]


def _scope(url: str) -> dict[str, Any]:
    route, _, query = url.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


async def _get(app: ReusedThreadsASGIHandler, url: str) -> tuple[int, str]:
    communicator = ApplicationCommunicator(app, _scope(url))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    body = b""
    while True:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], body.decode()


@pytest.fixture
def app() -> Iterator[ReusedThreadsASGIHandler]:
    _busy.update(now=0, most=0)
    _seen.clear()
    middleware = [f"{__name__}.RecordingMiddleware"]
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"], MIDDLEWARE=middleware):
        yield ReusedThreadsASGIHandler(threads=2)


def test_a_sync_views_request_runs_the_sync_chain_on_its_thread_never_the_async_one(
    app: ReusedThreadsASGIHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(request: HttpRequest) -> HttpResponse:
        raise AssertionError("the async middleware chain ran for a sync view")

    monkeypatch.setattr(app, "_middleware_chain", refuse)
    status, name = asyncio.run(_get(app, "/t/sync"))
    assert status == 200
    assert _seen == [("/t/sync", name)]  # the middleware and the view on the same pooled thread
    assert name.startswith("request-")


def test_an_async_views_request_keeps_the_async_chain(app: ReusedThreadsASGIHandler) -> None:
    status, _ = asyncio.run(_get(app, "/t/async"))
    assert status == 200
    assert [path for path, _ in _seen] == ["/t/async"]  # the middleware ran, adapted by Django


def test_request_signals_fire_once_per_request_on_its_thread_and_errors_become_500(
    app: ReusedThreadsASGIHandler,
) -> None:
    fired: list[tuple[str, str]] = []

    def started(**kwargs: Any) -> None:
        fired.append(("started", threading.current_thread().name))

    def finished(**kwargs: Any) -> None:
        fired.append(("finished", threading.current_thread().name))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        status, name = asyncio.run(_get(app, "/t/sync"))
        assert status == 200
        assert asyncio.run(_get(app, "/t/fail"))[0] == 500
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert [signal for signal, _ in fired] == ["started", "finished"] * 2
    # the receivers (close_old_connections among them) run on the request's thread, where its
    # database connection lives
    assert {thread for _, thread in fired} == {name}


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streaming_response_is_sent_whole_and_closed_after_it(app: ReusedThreadsASGIHandler) -> None:
    fired: list[str] = []

    def finished(**kwargs: Any) -> None:
        fired.append("finished")

    request_finished.connect(finished)
    try:
        status, body = asyncio.run(_get(app, "/t/stream"))
    finally:
        request_finished.disconnect(finished)
    assert (status, body) == (200, "part0;part1;part2;")
    assert fired == ["finished"]


def test_sequential_requests_reuse_one_thread(app: ReusedThreadsASGIHandler) -> None:
    async def run() -> list[tuple[int, str]]:
        return [await _get(app, "/t/sync") for _ in range(5)]

    answers = asyncio.run(run())
    assert {status for status, _ in answers} == {200}
    names = {name for _, name in answers}
    assert len(names) == 1 and names.pop().startswith("request-")


def test_concurrent_requests_beyond_the_pool_wait_for_a_thread(app: ReusedThreadsASGIHandler) -> None:
    async def run() -> list[tuple[int, str]]:
        return list(await asyncio.gather(*(_get(app, "/t/sync?sleep=0.05") for _ in range(6))))

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [200] * 6
    assert {name for _, name in answers} <= {"request-0_0", "request-1_0"}
    assert _busy["most"] == 2  # never more sync requests at once than threads


def test_async_views_keep_djangos_own_context(app: ReusedThreadsASGIHandler) -> None:
    async def run() -> tuple[int, str]:
        return await _get(app, "/t/async")

    status, name = asyncio.run(run())
    assert status == 200
    assert not name.startswith("request-")


def test_unknown_paths_are_answered_on_a_pooled_thread(app: ReusedThreadsASGIHandler) -> None:
    status, _ = asyncio.run(_get(app, "/nowhere"))
    assert status == 404


def test_at_least_one_thread() -> None:
    with pytest.raises(ValueError):
        ReusedThreadsASGIHandler(threads=0)
