"""The open-loop generator (bench/openloop.py) against a tiny local HTTP server: every scheduled
request is sent and answered (keep-alive, Content-Length and chunked answers), statuses are counted,
and the webhook mode sends each delivery once with its svix headers. No timing is asserted."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.openloop import OpenSpec, _run


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self, status: int, body: bytes, *, chunked: bool = False) -> None:
        self.send_response(status)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:  # http.server calls it by this name
        self.seen.append(("GET", self.path, None))
        if self.path == "/missing":
            self._answer(404, b"{}")
        else:
            self._answer(200, b'{"ok": true}', chunked=self.path == "/chunked")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path, self.headers.get("svix-id")))
        self._answer(201, body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: at the generator's 200 new connections a second on a
    # busy machine the kernel refused some (counted as errors, not answers). A real server's backlog.
    request_queue_size = 128


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_scheduled_request_is_sent_and_counted(server: str) -> None:
    spec = OpenSpec(server, "get_many", rate=200, duration=0.5, paths=["/a", "/chunked", "/missing", "/b"])

    result = asyncio.run(_run(spec))

    assert result["scheduled"] == 100 and result["answered"] == 100
    assert result["statuses"] == {"200": 75, "404": 25}
    assert sorted({path for _m, path, _s in _Handler.seen}) == ["/a", "/b", "/chunked", "/missing"]
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


def test_webhook_mode_sends_each_delivery_once_with_its_headers(server: str) -> None:
    deliveries = [(f"msg_{i}", "1700000000", "v1,sig", f'{{"n": {i}}}') for i in range(30)]
    spec = OpenSpec(server, "webhook", rate=100, duration=0.3, path="/webhooks/blink", deliveries=deliveries)

    result = asyncio.run(_run(spec))

    assert result["answered"] == 30 and result["statuses"] == {"201": 30}
    assert sorted(svix for _m, _p, svix in _Handler.seen) == sorted(d[0] for d in deliveries)


def test_a_server_that_is_gone_is_counted_as_errors_not_answers() -> None:
    spec = OpenSpec("http://127.0.0.1:9", "get_many", rate=50, duration=0.1, paths=["/"], timeout=1.0)

    result = asyncio.run(_run(spec))

    assert result["answered"] == 0 and sum(result["statuses"].values()) == result["scheduled"] == 5
