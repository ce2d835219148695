"""Fixtures for the status streams: the project's ASGI app served by uvicorn over real HTTP on
loopback (in this process, on a thread, so it uses the test database the suite set up), an SSE client
reading events on a thread, and splits driven through the real transition helpers.

The server runs in this process rather than as the stack's subprocess because the test database
(pytest-django's ``test_*`` clone, rows committed by ``transactional_db``) exists only for this
process's settings; the stack's own launch is covered by tests/blinkpos/test_stack.py and the browser
suite.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from django.core.asgi import get_asgi_application
from django.db import transaction
from django.utils import timezone

from blinkpos.processes import free_port
from payments.models import PaymentSplit, SplitStatus, Terminal
from payments.services.transitions import lock_split, record_event, transition_split
from tests.factories import MerchantFactory, PaymentSplitFactory, TerminalFactory

PORTS_FROM = 20100  # this suite's port range: 20000-20999


@dataclass
class Server:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[Server]:
    config = uvicorn.Config(
        get_asgi_application(),
        host="127.0.0.1",
        port=free_port(PORTS_FROM),
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="asgi-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield Server(f"http://127.0.0.1:{config.port}", server, thread)
    server.should_exit = True
    thread.join(15)


@dataclass
class Event:
    id: str | None
    name: str
    data: dict[str, Any] | None


@dataclass
class SseReader:
    """Reads one stream on a thread; ``next()`` waits (bounded) for the next event."""

    status_code: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    events: queue.Queue[Event | None] = field(default_factory=queue.Queue)
    comments: int = 0
    retry: int | None = None
    opened: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def next(self, timeout: float = 15.0) -> Event | None:
        """The next event, or None when the stream ended; fails the test after ``timeout``."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event within {timeout}s")

    def take(self, count: int) -> list[Event]:
        out = []
        for _ in range(count):
            event = self.next()
            assert event is not None, f"stream ended after {out}"
            out.append(event)
        return out


def _read(url: str, headers: dict[str, str], reader: SseReader) -> None:
    try:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=60.0)) as response:
            reader.status_code = response.status_code
            reader.headers = dict(response.headers)
            reader.opened.set()
            if response.status_code != 200:
                return
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if reader.stop.is_set():
                    return
                if line.startswith(":"):
                    reader.comments += 1
                elif line == "":
                    if "data" in fields:
                        data = json.loads(fields["data"])
                        reader.events.put(Event(fields.get("id"), fields.get("event", "message"), data))
                    elif "retry" in fields:
                        reader.retry = int(fields["retry"])
                    elif "id" in fields:
                        reader.events.put(Event(fields["id"], "", None))  # an id mark, no event
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
    except httpx.HTTPError:
        pass
    finally:
        reader.opened.set()
        reader.events.put(None)


@pytest.fixture
def open_stream(asgi_server: Server) -> Iterator[Callable[..., SseReader]]:
    readers: list[SseReader] = []

    def start(path: str, headers: dict[str, str] | None = None) -> SseReader:
        reader = SseReader()
        thread = threading.Thread(
            target=_read, args=(asgi_server.base_url + path, dict(headers or {}), reader), daemon=True
        )
        thread.start()
        assert reader.opened.wait(20), "the stream did not answer"
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.stop.set()


@dataclass
class Till:
    """A merchant's terminal and its API key."""

    terminal: Terminal

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.terminal.plain_key}", "Accept": "text/event-stream"}


@pytest.fixture
def till(transactional_db: None) -> Till:
    return Till(TerminalFactory(merchant=MerchantFactory()))


@pytest.fixture
def other_till(transactional_db: None) -> Till:
    return Till(TerminalFactory(merchant=MerchantFactory()))


def new_sale(till: Till) -> PaymentSplit:
    """A pending sale of ``till`` with its ``created`` event, committed."""
    with transaction.atomic():
        split = PaymentSplitFactory(merchant=till.terminal.merchant, terminal=till.terminal)
        record_event(split, "created", {}, to_status=SplitStatus.PENDING)
    return split


def move(split: PaymentSplit, target: str, event_type: str, **updates: Any) -> None:
    """One committed status change through the transition helper (which publishes after commit)."""
    with transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, target, event_type=event_type, **updates)


def pay_and_complete(split: PaymentSplit) -> None:
    move(split, SplitStatus.PAID, "paid", paid_at=timezone.now())
    move(split, SplitStatus.PROCESSING, "forwarding_started")
    move(split, SplitStatus.COMPLETED, "forwarding_completed", processed_at=timezone.now())
