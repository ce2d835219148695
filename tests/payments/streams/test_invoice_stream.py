"""The invoice status stream over real HTTP (uvicorn, the project's ASGI app), real PostgreSQL and
Redis pub/sub: an event per status change, in order, with ids; resume with Last-Event-ID; tenant rules;
input errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from payments.models import Refund, RefundStatus, SplitStatus
from payments.services.refund_transitions import lock_refund, refund_event, transition_refund
from payments.services.transitions import lock_split
from tests.payments.streams.conftest import Server, SseReader, Till, move, new_sale, pay_and_complete

pytestmark = pytest.mark.slow
Open = Callable[..., SseReader]


def test_every_status_change_arrives_in_order_with_ids_then_the_stream_closes(open_stream: Open, till: Till) -> None:
    # given a pending sale and its stream
    split = new_sale(till)
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", till.headers)
    assert reader.status_code == 200
    assert reader.headers["content-type"].startswith("text/event-stream")
    assert reader.headers["cache-control"] == "no-store, private"
    first = reader.next()
    assert first is not None and first.name == "status" and first.data is not None
    assert first.data["status"] == "pending" and first.data["payment_hash"] == split.payment_hash
    assert reader.retry == 3000

    # when it is paid and forwarded
    pay_and_complete(split)

    # then one event per change, in order, with increasing ids, then the end of the stream
    events = reader.take(3)
    assert [e.name for e in events] == ["paid", "processing", "completed"]
    ids = [int(e.id or 0) for e in [first, *events]]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert events[-1].data is not None and events[-1].data["status"] == "completed"
    assert reader.next() is None  # final, no refund open: closed


def test_the_event_data_is_the_status_endpoint_json(asgi_server: Server, open_stream: Open, till: Till) -> None:
    split = new_sale(till)
    move(split, SplitStatus.PAID, "paid", paid_at=timezone.now())
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", till.headers)
    event = reader.next()
    auth = {"Authorization": till.headers["Authorization"]}
    polled = httpx.get(f"{asgi_server.base_url}/api/v1/invoices/{split.payment_hash}", headers=auth)
    assert polled.status_code == 200
    assert event is not None and event.data == polled.json()


def test_resuming_with_last_event_id_replays_what_was_missed(open_stream: Open, till: Till) -> None:
    # given a client that saw the sale pending, then lost its connection
    split = new_sale(till)
    first = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", till.headers)
    seen = first.next()
    assert seen is not None and seen.id
    first.stop.set()
    # when the sale is paid and completed meanwhile, and the client reconnects with its last id
    pay_and_complete(split)
    resumed = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", {**till.headers, "Last-Event-ID": seen.id})
    # then the missed changes come first, in order, and nothing it had
    events = resumed.take(3)
    assert [e.name for e in events] == ["paid", "processing", "completed"]
    assert all(int(e.id or 0) > int(seen.id) for e in events)
    assert resumed.next() is None
    # and reconnecting after the final event answers 204: EventSource stops
    again = open_stream(
        f"/api/v1/invoices/{split.payment_hash}/events", {**till.headers, "Last-Event-ID": events[-1].id}
    )
    assert again.status_code == 204


def test_a_refund_keeps_a_completed_sale_stream_open_and_its_changes_arrive(open_stream: Open, till: Till) -> None:
    split = new_sale(till)
    pay_and_complete(split)
    with transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        refund = Refund.objects.create(
            split=locked,
            merchant=locked.merchant,
            requested_by="test",
            amount_sats=100,
            base_part_sats=100,
            reason="test",
            funding_payment_hash="ab" * 32,
            funding_external_id="refund-test",
            funding_payment_request="lnbc1test",
            funding_expires_at=timezone.now(),
            claim_token="t" * 40,
            claim_k1="k" * 40,
        )
        refund_event(locked, refund, "refund_created", {}, to_status=RefundStatus.AWAITING_FUNDING)
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", till.headers)
    first = reader.next()
    assert first is not None and first.data is not None and first.data["status"] == "completed"
    with transaction.atomic():
        locked_pair = lock_refund(refund_id=refund.pk)
        assert locked_pair is not None
        transition_refund(*locked_pair, RefundStatus.CANCELLED, event_type="refund_cancelled")
    event = reader.next()
    assert event is not None and event.name == "refund_cancelled"
    assert reader.next() is None  # no refund open any more


def test_another_merchants_terminal_gets_404_and_nothing_streams(
    open_stream: Open, till: Till, other_till: Till
) -> None:
    split = new_sale(till)
    reader = open_stream(f"/api/v1/invoices/{split.payment_hash}/events", other_till.headers)
    assert reader.status_code == 404
    assert reader.next() is None


def test_without_credentials_401(asgi_server: Server, till: Till) -> None:
    split = new_sale(till)
    answer = httpx.get(f"{asgi_server.base_url}/api/v1/invoices/{split.payment_hash}/events")
    assert answer.status_code in (401, 403)
    assert answer.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("payment_hash", ["nothex", "ab" * 31, "zz" * 32, "ab" * 33])
def test_a_malformed_or_unknown_hash_is_404_like_the_status_endpoint(
    asgi_server: Server, till: Till, payment_hash: str
) -> None:
    answer = httpx.get(f"{asgi_server.base_url}/api/v1/invoices/{payment_hash}/events", headers=till.headers)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "99999999999999999999", "1 2"])
def test_a_bad_last_event_id_is_400_naming_the_header(asgi_server: Server, till: Till, value: str) -> None:
    split = new_sale(till)
    answer = httpx.get(
        f"{asgi_server.base_url}/api/v1/invoices/{split.payment_hash}/events",
        headers={**till.headers, "Last-Event-ID": value},
    )
    assert answer.status_code == 400
    assert "Last-Event-ID" in answer.json()["error"]["fields"]


def test_the_openapi_schema_documents_both_streams(db: None) -> None:
    from django.test import Client

    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path, op_id in (
        ("/api/v1/invoices/{payment_hash}/events", "invoices_events"),
        ("/api/v1/terminal/events", "terminal_events"),
    ):
        operation = schema["paths"][path]["get"]
        assert operation["operationId"] == op_id
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        assert any(p["name"] == "Last-Event-ID" for p in operation["parameters"])
        assert "Last-Event-ID" in operation["description"]
