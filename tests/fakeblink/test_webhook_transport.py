"""``WebhookPoster``: the fake's webhook POSTs over kept-alive ``http.client`` connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping

import pytest

from fakeblink.server import HTTPServerThread, Reply
from fakeblink.webhook_transport import WebhookPoster


class _Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.replies: list[Reply] = []

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        self.received.append((method, path, dict(headers), body))
        return self.replies.pop(0) if self.replies else Reply(status=204)


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, HTTPServerThread]]:
    app = _Receiver()
    server = HTTPServerThread(app.handle)
    server.start()
    yield app, server
    server.stop()


@pytest.fixture
def poster() -> Iterator[WebhookPoster]:
    poster = WebhookPoster(timeout=5.0)
    yield poster
    poster.close()


def test_a_post_carries_path_query_headers_and_body_and_keeps_the_connection(
    receiver: tuple[_Receiver, HTTPServerThread], poster: WebhookPoster
) -> None:
    app, server = receiver
    url = f"http://{server.host}:{server.port}/webhooks/blink?tenant=1"

    assert poster.post(url, body=b'{"a":1}', headers={"svix-id": "msg_1", "content-type": "application/json"}) == 204
    first = poster._idle[("http", server.host, server.port)][0]
    assert poster.post(url, body=b"{}", headers={"svix-id": "msg_2"}) == 204

    assert poster._idle[("http", server.host, server.port)] == [first]
    method, path, headers, body = app.received[0]
    assert (method, path, body) == ("POST", "/webhooks/blink?tenant=1", b'{"a":1}')
    assert headers["svix-id"] == "msg_1" and headers["content-type"] == "application/json"
    assert headers["content-length"] == "7"


def test_a_connection_the_receiver_closed_is_not_reused(
    receiver: tuple[_Receiver, HTTPServerThread], poster: WebhookPoster
) -> None:
    app, server = receiver
    url = f"http://{server.host}:{server.port}/hook"
    assert poster.post(url, body=b"1", headers={}) == 204
    with server._server.connections_lock:
        open_connections = list(server._server.open_connections)
    for connection in open_connections:
        connection.shutdown(socket.SHUT_RDWR)

    assert poster.post(url, body=b"2", headers={}) == 204
    assert [r[3] for r in app.received] == [b"1", b"2"]


def test_a_redirect_is_answered_not_followed(
    receiver: tuple[_Receiver, HTTPServerThread], poster: WebhookPoster
) -> None:
    app, server = receiver
    app.replies.append(Reply(status=307, headers={"Location": "/elsewhere"}))

    assert poster.post(f"http://{server.host}:{server.port}/hook", body=b"x", headers={}) == 307
    assert len(app.received) == 1


def test_transport_failures_raise(poster: WebhookPoster) -> None:
    with pytest.raises(OSError):
        poster.post("http://127.0.0.1:1/hook", body=b"x", headers={})
    with pytest.raises(ValueError, match="not an http"):
        poster.post("ftp://example.com/hook", body=b"x", headers={})
