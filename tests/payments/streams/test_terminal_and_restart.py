"""The terminal's stream, the web POS's session access, and a stream that outlives a Redis restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from django.test import Client
from django.utils import timezone

from blinkpos.devservices import EmbeddedRedis
from blinkpos.processes import free_port
from payments.models import SplitStatus
from tests.payments.streams.conftest import Server, SseReader, Till, move, new_sale, pay_and_complete

pytestmark = pytest.mark.slow
Open = Callable[..., SseReader]


def test_the_terminal_stream_carries_every_invoice_of_that_terminal_only(
    open_stream: Open, till: Till, other_till: Till
) -> None:
    # given the terminal's stream (a fresh one starts with an id mark to resume from)
    reader = open_stream("/api/v1/terminal/events", till.headers)
    mark = reader.next()
    assert mark is not None and mark.name == "" and mark.id is not None
    # when two of its sales change, and a sale of another merchant's terminal too
    first, second = new_sale(till), new_sale(till)
    foreign = new_sale(other_till)
    move(foreign, SplitStatus.PAID, "paid", paid_at=timezone.now())
    move(first, SplitStatus.PAID, "paid", paid_at=timezone.now())
    move(second, SplitStatus.CANCELLED, "cancelled")
    # then its own changes arrive (the new sales, then paid and cancelled), never the other terminal's
    events = reader.take(4)
    assert {(e.data or {})["payment_hash"] for e in events} == {first.payment_hash, second.payment_hash}
    assert [e.name for e in events if e.name != "pending"] == ["paid", "cancelled"]


def test_the_terminal_stream_resumes_with_last_event_id(open_stream: Open, till: Till) -> None:
    sale = new_sale(till)
    reader = open_stream("/api/v1/terminal/events", till.headers)
    mark = reader.next()
    assert mark is not None and mark.id
    reader.stop.set()
    pay_and_complete(sale)
    resumed = open_stream("/api/v1/terminal/events", {**till.headers, "Last-Event-ID": mark.id})
    names = [e.name for e in resumed.take(3)]
    assert names == ["paid", "processing", "completed"]


def test_the_terminal_stream_needs_a_terminal_key(asgi_server: Server, till: Till) -> None:
    client = Client()
    client.force_login(till.terminal.merchant.user)
    cookie = client.cookies["sessionid"].value
    answer = httpx.get(f"{asgi_server.base_url}/api/v1/terminal/events", cookies={"sessionid": cookie})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "permission_denied"


def test_the_web_pos_session_opens_its_merchants_invoice_stream(
    open_stream: Open, till: Till, other_till: Till
) -> None:
    # the web POS authenticates by the merchant's session, not a terminal key
    split = new_sale(till)
    client = Client()
    client.force_login(till.terminal.merchant.user)
    session = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", session)
    first = reader.next()
    assert first is not None and first.name == "status"
    move(split, SplitStatus.PAID, "paid", paid_at=timezone.now())
    paid = reader.next()
    assert paid is not None and paid.name == "paid"
    # another merchant's session sees the same 404 as the status endpoint
    stranger = Client()
    stranger.force_login(other_till.terminal.merchant.user)
    refused = open_stream(
        f"/api/v1/invoices/{split.payment_hash}/events", {"Cookie": f"sessionid={stranger.cookies['sessionid'].value}"}
    )
    assert refused.status_code == 404


@pytest.fixture
def own_redis(settings: object) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own (ports 20000-20999) that the streams' pub/sub uses."""
    server = EmbeddedRedis(port=free_port(20500), label="streams-restart")
    server.start()
    settings.STATUS_STREAM_REDIS_URL = server.url  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_a_stream_survives_a_redis_restart_without_losing_the_final_status(
    own_redis: EmbeddedRedis, open_stream: Open, till: Till
) -> None:
    # given an open stream whose process listens on the Redis about to restart
    split = new_sale(till)
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", till.headers)
    first = reader.next()
    assert first is not None and first.name == "status"
    move(split, SplitStatus.PAID, "paid", paid_at=timezone.now())
    paid = reader.next()
    assert paid is not None and paid.name == "paid"
    # when Redis goes away, the sale completes while nobody can hear it, and Redis comes back
    own_redis.stop()
    move(split, SplitStatus.PROCESSING, "forwarding_started")  # its publish fails: Redis is down
    move(split, SplitStatus.COMPLETED, "forwarding_completed", processed_at=timezone.now())
    own_redis.start()
    # then the stream's listener reconnects, re-reads PostgreSQL and sends the missed changes
    events = reader.take(2)
    assert [e.name for e in events] == ["processing", "completed"]
    assert events[-1].data is not None and events[-1].data["status"] == "completed"
    assert reader.next() is None


def test_open_streams_hold_no_thread(open_stream: Open, till: Till) -> None:
    # given the server's threads with nothing open
    import threading

    sales = [new_sale(till) for _ in range(12)]
    warm = open_stream(f"/api/v1/invoices/{sales[0].payment_hash}/events", till.headers)
    assert warm.next() is not None
    before = threading.active_count()
    # when a dozen more streams are open and have sent their first event
    readers = [open_stream(f"/api/v1/invoices/{s.payment_hash}/events", till.headers) for s in sales[1:]]
    for reader in readers:
        assert reader.next() is not None
    # then the server holds them without a thread each (the readers here are threads of their own: 11)
    assert threading.active_count() - before <= len(readers) + 2
