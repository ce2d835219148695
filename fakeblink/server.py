"""HTTP plumbing for the fake Blink: a stdlib ``ThreadingHTTPServer`` on loopback.

The application logic (GraphQL, control endpoints) returns a ``Reply``; this module writes it, or
misbehaves on purpose when the reply says so (drop the connection without answering, answer late).
Ports are below 32768 (docs/ARCHITECTURE.md, Running the stack: the ephemeral range collides with
client sockets), picked at random when the caller does not choose one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

PORT_RANGE = (20000, 32000)
LOOPBACK = "127.0.0.1"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # "drop": close the socket without a response. "sleep": wait ``sleep_seconds`` before answering.
    action: str | None = None
    sleep_seconds: float = 0.0


def json_reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")
    return Reply(status=status, body=body, headers={"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[str, str, Mapping[str, str], bytes], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Handler) -> None:
        self.app = handler
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real gateway; the client pools connections
    timeout = 30  # an idle keep-alive socket frees its thread eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = self.server.app(method, self.path, headers, body)
        except Exception:
            logger.exception("fakeblink.handler_error path=%s", self.path)
            reply = json_reply(500, {"errors": [{"message": "fake Blink bug", "extensions": {"code": "INTERNAL"}}]})
        if reply.action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.action == "sleep":
            time.sleep(reply.sleep_seconds)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client gave up (its read timeout fired during a "sleep" reply): nothing to do.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fakeblink.http " + format, *args)


class HTTPServerThread:
    """A bound server plus its serving thread; ``stop()`` also closes kept-alive connections."""

    def __init__(self, handler: Handler, *, host: str = LOOPBACK, port: int | None = None) -> None:
        self._server = bind(handler, host=host, port=port)
        # A short poll interval: shutdown() waits for the loop to notice, and tests start many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-blink-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._server.connections_lock:
            connections = list(self._server.open_connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)


def bind(handler: Handler, *, host: str = LOOPBACK, port: int | None = None, attempts: int = 100) -> _Server:
    """Bind ``port``, or a random free port in PORT_RANGE when ``port`` is None (never 0)."""
    if port is not None:
        return _Server((host, port), handler)
    rng = random.SystemRandom()
    last_error: OSError | None = None
    for _ in range(attempts):
        try:
            return _Server((host, rng.randint(*PORT_RANGE)), handler)
        except OSError as exc:  # taken: try another
            last_error = exc
    raise OSError(f"no free port in {PORT_RANGE} after {attempts} attempts") from last_error
