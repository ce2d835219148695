"""Polling, history, cancel, the picker endpoints, tenant isolation, throttling and the schema."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments import store
from payments.models import PaymentSplit, SplitStatus, Terminal
from payments.services.terminals import terminal_revoke
from tests.factories import PaymentLegFactory, PaymentSplitFactory, TerminalFactory, random_hash
from tests.payments.api.conftest import Shop, tip_keys

pytestmark = pytest.mark.django_db
URL = "/api/v1/invoices"


def hot_split(shop: Shop, **kwargs: Any) -> PaymentSplit:
    split = PaymentSplitFactory(merchant=shop.merchant, terminal=shop.terminal, display_currency="USD", **kwargs)
    store.put(split)
    return split


def test_hot_poll_makes_no_database_query(api: Client, shop: Shop, django_assert_num_queries: Any) -> None:
    split = hot_split(shop)
    warm = api.get(f"{URL}/{split.payment_hash}", **shop.auth)  # caches the terminal's auth record
    assert warm.status_code == 200
    with django_assert_num_queries(0):
        response = api.get(f"{URL}/{split.payment_hash}", **shop.auth)
    assert response.status_code == 200
    assert response.json()["payment_hash"] == split.payment_hash
    assert response.json()["total_sats"] == 1150
    assert response["Cache-Control"] == "no-store, private"


def test_terminal_last_use_is_written_at_most_once_a_minute(api: Client, shop: Shop) -> None:
    # given: a terminal never seen before
    split = hot_split(shop)
    Terminal.objects.filter(pk=shop.terminal.pk).update(last_used_at=None)

    # when: it polls twice
    assert api.get(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 200
    first = Terminal.objects.get(pk=shop.terminal.pk).last_used_at
    assert api.get(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 200

    # then: the first poll recorded it, the second (same minute) wrote nothing
    assert first is not None
    assert Terminal.objects.get(pk=shop.terminal.pk).last_used_at == first
    # and the marker that holds the next write back expires within the minute
    assert 0 < get_redis_connection("default").ttl(f"terminal:touched:{shop.terminal.pk}") <= 60


def test_revoked_terminal_is_refused_at_once_in_the_revoking_process(
    api: Client, shop: Shop, django_capture_on_commit_callbacks: Any
) -> None:
    split = hot_split(shop)
    assert api.get(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 200  # remembered locally

    with django_capture_on_commit_callbacks(execute=True):
        terminal_revoke(terminal=shop.terminal)

    assert api.get(f"{URL}/{split.payment_hash}", **shop.auth).status_code == 401


def test_cold_poll_reads_postgres_and_rewarms(api: Client, shop: Shop) -> None:
    split = PaymentSplitFactory(merchant=shop.merchant)
    assert tip_keys() == []
    response = api.get(f"{URL}/{split.payment_hash.upper()}", **shop.auth)
    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert tip_keys() == [f"tip:{split.payment_hash}".encode()]


def test_finished_split_is_served_but_not_rewarmed(api: Client, shop: Shop) -> None:
    split = PaymentSplitFactory(merchant=shop.merchant, status=SplitStatus.COMPLETED)
    response = api.get(f"{URL}/{split.payment_hash}", **shop.auth)
    assert response.json()["status"] == "completed"
    assert tip_keys() == []


@pytest.mark.parametrize("payment_hash", ["nothex", "ab" * 32, "x" * 300])
def test_unknown_or_malformed_hash_is_404(api: Client, shop: Shop, payment_hash: str) -> None:
    response = api.get(f"{URL}/{payment_hash}", **shop.auth)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "fields": {}}}


def test_isolation_every_endpoint(api: Client, shop: Shop, other_shop: Shop) -> None:
    # given an invoice of shop A, hot in Redis and in PostgreSQL
    split = hot_split(shop)
    missing = api.get(f"{URL}/{random_hash()}", **other_shop.auth)
    # when merchant B's terminal asks for it: the same 404 as for a hash that does not exist
    for path in (f"{URL}/{split.payment_hash}",):
        assert api.get(path, **other_shop.auth).json() == missing.json()
        assert api.get(path, **other_shop.auth).status_code == 404
    store.evict(split.payment_hash)
    assert api.get(f"{URL}/{split.payment_hash}", **other_shop.auth).status_code == 404
    cancel = api.post(f"{URL}/{split.payment_hash}/cancel", **other_shop.auth)
    assert (cancel.status_code, cancel.json()) == (404, missing.json())
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
    # lists only ever show B's own things
    assert api.get(URL, **other_shop.auth).json()["results"] == []
    assert {s["id"] for s in api.get("/api/v1/staff", **other_shop.auth).json()} == {
        other_shop.alice.pk,
        other_shop.bob.pk,
    }
    assert [p["id"] for p in api.get("/api/v1/split-profiles", **other_shop.auth).json()] == [other_shop.team.pk]
    assert api.get("/api/v1/merchant", **other_shop.auth).json()["id"] == other_shop.merchant.pk
    # and the history filter on A's staff finds nothing for B
    other_staff = api.get(URL, {"staff_id": shop.alice.pk}, **other_shop.auth)
    assert other_staff.json()["results"] == []


def test_session_user_isolation(shop: Shop, other_shop: Shop) -> None:
    split = hot_split(shop)
    client = Client()
    client.force_login(other_shop.merchant.user)
    assert client.get(f"{URL}/{split.payment_hash}").status_code == 404
    client.force_login(shop.merchant.user)
    assert client.get(f"{URL}/{split.payment_hash}").status_code == 200


def _unchecked_payout(destination: str) -> dict[str, object]:
    return {
        "payout_destination": destination,
        "lightning_address": "",
        "payout_route": "",
        "payout_route_checked_at": None,
        "payout_check_ok": True,
        "payout_check_error": "",
    }


def test_merchant_staff_and_profiles_for_the_picker(api: Client, shop: Shop) -> None:
    shop.bob.is_active = False
    shop.bob.save()
    merchant = api.get("/api/v1/merchant", **shop.auth).json()
    assert merchant == {
        "id": shop.merchant.pk,
        "name": shop.merchant.name,
        "blink_username": "shopa_owner",
        "display_currency": "USD",
        "tip_presets": [10, 15, 20],
        "has_blink_api_key": False,
        "payout": _unchecked_payout("@shopa_owner"),
        "absorbs_payout_fees": False,
    }
    assert api.get("/api/v1/staff", **shop.auth).json() == [
        {
            "id": shop.alice.pk,
            "display_name": shop.alice.display_name,
            "blink_username": "shopa_alice",
            "payout": _unchecked_payout("@shopa_alice"),
        }
    ]
    profiles = api.get("/api/v1/split-profiles", **shop.auth).json()
    assert profiles[0]["name"] == "Floor"
    assert [(s["blink_username"], s["weight_bps"]) for s in profiles[0]["shares"]] == [
        ("shopa_alice", 6000),
        ("shopa_bob", 4000),
    ]


def test_history_filters_and_cursor_pagination(api: Client, shop: Shop) -> None:
    now = timezone.now()
    splits = []
    for minutes, status in [(50, "completed"), (40, "pending"), (30, "completed"), (20, "expired"), (10, "completed")]:
        split = PaymentSplitFactory(merchant=shop.merchant, status=status)
        PaymentSplit.objects.filter(pk=split.pk).update(created_at=now - timedelta(minutes=minutes))
        splits.append(split)
    PaymentLegFactory(
        split=splits[2], kind="tip", staff=shop.alice, recipient_wallet_id=shop.alice.wallet_id, amount=150
    )
    PaymentSplitFactory(merchant=shop.merchant, staff=shop.alice)  # direct staff on the split, created now

    # pagination: newest first, two per page, following `next`
    seen: list[str] = []
    response = api.get(URL, {"page_size": 2}, **shop.auth).json()
    while True:
        seen += [r["payment_hash"] for r in response["results"]]
        if not response["next"]:
            break
        response = api.get(response["next"], **shop.auth).json()
    assert len(seen) == 6 and len(set(seen)) == 6
    assert seen[1:] == [s.payment_hash for s in reversed(splits)]

    completed = api.get(URL, {"status": "completed"}, **shop.auth).json()["results"]
    assert [r["payment_hash"] for r in completed] == [
        splits[4].payment_hash,
        splits[2].payment_hash,
        splits[0].payment_hash,
    ]
    window = {
        "created_from": (now - timedelta(minutes=45)).isoformat(),
        "created_to": (now - timedelta(minutes=15)).isoformat(),
    }
    ranged = api.get(URL, window, **shop.auth).json()["results"]
    assert [r["payment_hash"] for r in ranged] == [
        splits[3].payment_hash,
        splits[2].payment_hash,
        splits[1].payment_hash,
    ]
    by_staff = api.get(URL, {"staff_id": shop.alice.pk}, **shop.auth).json()["results"]
    assert len(by_staff) == 2 and splits[2].payment_hash in {r["payment_hash"] for r in by_staff}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_from": "2025-01-02T00:00:00Z", "created_to": "2025-01-01T00:00:00Z"}, "created_to"),
        ({"staff_id": "alice"}, "staff_id"),
        ({"status": ""}, "status"),
        ({"staff_id": ""}, "staff_id"),
        ({"page_size": "null"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_history_bad_filters_name_the_field(api: Client, shop: Shop, params: dict[str, str], field: str) -> None:
    response = api.get(URL, params, **shop.auth)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_cancel_abandoned_sale(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    created = api.post(URL, data=json.dumps({"amount_sats": 900}), content_type="application/json", **shop.auth).json()
    payment_hash = created["payment_hash"]
    assert tip_keys() == [f"tip:{payment_hash}".encode()]
    response = api.post(f"{URL}/{payment_hash}/cancel", **shop.auth)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert fake_blink.invoice(payment_hash)["cancelled"] is True
    assert tip_keys() == []
    split = PaymentSplit.objects.get(payment_hash=payment_hash)
    assert list(split.events.values_list("event_type", flat=True)) == ["created", "cancelled"]
    assert split.events.get(event_type="cancelled").event_data == {"cancelled_at_provider": True}
    # cancelling again answers the same
    again = api.post(f"{URL}/{payment_hash}/cancel", **shop.auth)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert api.get(f"{URL}/{payment_hash}", **shop.auth).json()["status"] == "cancelled"


def test_cancel_refused_when_the_customer_already_paid(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    created = api.post(URL, data=json.dumps({"amount_sats": 900}), content_type="application/json", **shop.auth).json()
    fake_blink.pay_invoice_as_customer(created["payment_hash"])
    response = api.post(f"{URL}/{created['payment_hash']}/cancel", **shop.auth)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_cancellable"
    assert PaymentSplit.objects.get().status == SplitStatus.PENDING  # detection will mark it paid


def test_cancel_refused_after_payment_recorded(api: Client, shop: Shop, fake_blink: FakeBlink) -> None:
    split = PaymentSplitFactory(merchant=shop.merchant, status=SplitStatus.PAID)
    response = api.post(f"{URL}/{split.payment_hash}/cancel", **shop.auth)
    assert response.status_code == 409
    assert fake_blink.request_count == 0  # refused before asking the provider


@pytest.mark.usefixtures("inside_one_rate_window")
def test_terminal_throttle_answers_429_with_retry_after(api: Client, shop: Shop, settings: Any) -> None:
    settings.API_RATE_LIMITS = {"terminal": "3/min", "merchant": "100/min"}
    split = hot_split(shop)
    statuses = [api.get(f"{URL}/{split.payment_hash}", **shop.auth).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get(f"{URL}/{split.payment_hash}", **shop.auth)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert any(k.startswith(b"ratelimit:terminal:") for k in get_redis_connection("default").scan_iter("ratelimit:*"))


@pytest.mark.usefixtures("inside_one_rate_window")
def test_merchant_throttle_spans_terminals(api: Client, shop: Shop, other_shop: Shop, settings: Any) -> None:
    settings.API_RATE_LIMITS = {"terminal": "100/min", "merchant": "3/min"}
    second = TerminalFactory(merchant=shop.merchant)
    second_auth = {"HTTP_AUTHORIZATION": f"Api-Key {second.plain_key}"}
    assert [api.get("/api/v1/merchant", **shop.auth).status_code for _ in range(2)] == [200, 200]
    assert [api.get("/api/v1/merchant", **second_auth).status_code for _ in range(2)] == [200, 429]
    # another merchant has its own budget
    assert api.get("/api/v1/merchant", **other_shop.auth).status_code == 200


def test_revoked_terminal_is_refused_at_once_even_when_cached(api: Client, shop: Shop) -> None:
    from payments.services.terminals import terminal_revoke

    assert api.get("/api/v1/merchant", **shop.auth).status_code == 200  # auth record now cached
    with pytest.MonkeyPatch.context() as mp:
        # run the after-commit eviction inside this rolled-back test transaction
        mp.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
        terminal_revoke(terminal=shop.terminal)
    assert api.get("/api/v1/merchant", **shop.auth).status_code == 401


def test_openapi_schema_validates_without_warnings(capsys: Any) -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema_doc = Client().get("/api/schema/")
    assert schema_doc.status_code == 200
    assert b"/api/v1/invoices/{payment_hash}/cancel" in schema_doc.content
    assert Client().get("/api/docs/").status_code == 200
