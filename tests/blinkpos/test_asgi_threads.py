"""blinkpos/asgi_threads.py: sync requests run on a bounded set of reused threads; async views (the
status streams) keep Django's own per-request context and never hold one of them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.http import HttpRequest, HttpResponse
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


urlpatterns = [path("t/sync", sync_view), path("t/async", async_view)]


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
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
        yield ReusedThreadsASGIHandler(threads=2)


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
