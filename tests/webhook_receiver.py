"""A merchant's webhook receiver on loopback for tests: a real HTTP server (threads) that records every
request and answers from a script (status, delay, body), 200 when the script is empty.

Port from 21000-21999 (helpers' ports stay below the ephemeral range)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)
    default: Answer = field(default_factory=Answer)
    _server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}/hooks"

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    def start(self, ports: range = range(21000, 22000)) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                receiver.received.append(
                    Received(path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body)
                )
                reply = receiver.script.popleft() if receiver.script else receiver.default
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        for port in ports:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError:
                continue
            server.daemon_threads = True
            self._server, self.port = server, port
            threading.Thread(target=server.serve_forever, daemon=True).start()
            return
        raise RuntimeError("no free port for the webhook receiver")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait(self, count: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return True
            time.sleep(0.05)
        return len(self.received) >= count


def verify(secret: str, received: Received, *, at: datetime | None = None) -> Any:
    """``standardwebhooks.Webhook(secret).verify`` (the reference implementation) on what arrived. ``at``:
    the receiver's clock when the test moved the app's clock (the library checks the timestamp against
    its own ``datetime.now``; only that clock is replaced)."""
    if at is None:
        return Webhook(secret).verify(received.body, received.headers)

    class _Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            assert at is not None
            return at.astimezone(tz) if tz else at

    with mock.patch("standardwebhooks.webhooks.datetime", _Frozen):
        return Webhook(secret).verify(received.body, received.headers)
