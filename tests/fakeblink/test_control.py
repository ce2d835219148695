"""The fake's HTTP control endpoints: how other processes steer it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from fakeblink import FakeBlink
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.types import InvoiceState, SendStatus

from .conftest import WEBHOOK_SECRET, WebhookReceiver


@pytest.fixture
def control(fake_blink: FakeBlink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{fake_blink.base_url}/control", timeout=5) as client:
        yield client


def test_health_and_ledger(fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client) -> None:
    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="s")

    health = control.get("/health").json()
    ledger = control.get("/ledger").json()

    assert health == {"ok": True, "platform_wallet_id": fake_blink.platform_wallet_id}
    assert [i["payment_hash"] for i in ledger["invoices"]] == [invoice.payment_hash]
    assert "preimage" not in ledger["invoices"][0]
    assert fake_blink.platform_api_key not in control.get("/ledger").text


def test_accounts_pay_and_script_over_http(blink_client: BlinkClient, control: httpx.Client) -> None:
    # given a recipient created by another process
    created = control.post("/accounts", json={"username": "Bob", "currencies": ["BTC"]}).json()
    assert blink_client.resolve_username(username="bob").wallet_id == created["wallets"]["BTC"]

    # when a customer pays a sale through the control API
    sale = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="s")
    paid = control.post("/pay", json={"payment_hash": sale.payment_hash})

    # then
    assert paid.status_code == 200
    assert paid.json()["status"] == "PAID"
    assert blink_client.invoice_status(payment_hash=sale.payment_hash).state is InvoiceState.PAID

    # and a scripted failure reaches the client
    control.post("/script", json={"operation": "lnInvoiceCreate", "outcomes": ["TOO_MANY_REQUEST"]})
    with pytest.raises(e.RateLimited):
        blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="t")


def test_pending_polls_and_settle_over_http(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client, alice: str
) -> None:
    control.post("/pending-polls", json={"polls": 100})
    control.post("/script", json={"operation": "lnInvoicePaymentSend", "outcomes": ["PENDING_THEN_SUCCESS"]})
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="l"
    )
    assert blink_client.pay_invoice(payment_request=payout.payment_request).status is SendStatus.PENDING

    assert control.post("/settle", json={"payment_hash": payout.payment_hash}).json() == {"settled": True}

    assert blink_client.payment_lookup(payment_hash=payout.payment_hash).status is SendStatus.SUCCEEDED


def test_clock_price_balance_and_latency_over_http(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client
) -> None:
    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=1, external_id="c")

    control.post("/clock", json={"advance_seconds": 120})
    control.post("/price", json={"currency": "EUR", "btc_price": "50000"})
    control.post("/balance", json={"wallet_id": fake_blink.platform_wallet_id, "balance": 42})
    control.post("/latency", json={"operation": "realtimePrice", "seconds": 0})

    assert blink_client.invoice_status(payment_hash=invoice.payment_hash).state is InvoiceState.EXPIRED
    assert blink_client.btc_price(currency="EUR").base == 5 * 10**10
    assert fake_blink.balance(fake_blink.platform_wallet_id) == 42


def test_autopay_pays_new_platform_invoices(blink_client: BlinkClient, control: httpx.Client) -> None:
    control.post("/autopay", json={"seconds": 0.05})

    invoice = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="a")

    deadline = time.monotonic() + 3
    while blink_client.invoice_status(payment_hash=invoice.payment_hash).state is not InvoiceState.PAID:
        assert time.monotonic() < deadline, "autopay did not pay the invoice"
        time.sleep(0.02)


def test_autopay_pays_every_platform_accounts_invoices_and_no_payout_invoice(
    fake_blink: FakeBlink, control: httpx.Client, alice: str
) -> None:
    # given a second platform account (a WRITE key) added over the control API
    key = "blink_second0platform0key000000000000"
    added = control.post(
        "/accounts", json={"username": "second_platform", "api_key": key, "scopes": ["READ", "RECEIVE", "WRITE"]}
    )
    assert added.status_code == 200, added.text
    control.post("/autopay", json={"seconds": 0.05})

    # when an invoice is created on behalf of alice (a payout), then a customer invoice of the platform
    with BlinkClient(url=fake_blink.url, api_key=key, wallet_id=None) as second:
        payout = second.create_invoice_for_recipient(
            recipient_wallet_id=alice, amount_sats=5, memo=None, external_id="p"
        )
        invoice = second.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="b")
        deadline = time.monotonic() + 3
        while second.invoice_status(payment_hash=invoice.payment_hash).state is not InvoiceState.PAID:
            assert time.monotonic() < deadline, "autopay did not pay the second platform's invoice"
            time.sleep(0.02)

        # then the customer paid the platform's invoice (scheduled after the payout's), never the payout
        assert second.invoice_status(payment_hash=payout.payment_hash).state is InvoiceState.PENDING


def test_webhooks_and_redelivery_over_http(
    blink_client: BlinkClient, control: httpx.Client, webhook_receiver: WebhookReceiver
) -> None:
    control.post("/webhooks", json={"url": webhook_receiver.url, "secret": WEBHOOK_SECRET})
    sale = blink_client.create_invoice(amount_sats=10, memo=None, expires_in_minutes=5, external_id="w")
    control.post("/pay", json={"payment_hash": sale.payment_hash})
    assert webhook_receiver.wait(1)
    svix_id = webhook_receiver.received[0][0]["svix-id"]

    redelivered = control.post("/redeliver", json={"svix_id": svix_id}).json()

    assert redelivered["status_code"] == 200
    assert webhook_receiver.received[1][0]["svix-id"] == svix_id
    assert control.get("/webhooks").json()[0]["svix_id"] == svix_id


def test_bad_control_requests(control: httpx.Client) -> None:
    assert control.post("/script", json={"operation": "nope", "outcomes": []}).status_code == 400
    assert control.post("/script", json={"operation": "lnInvoiceCreate", "outcomes": ["FAILURE"]}).status_code == 400
    assert control.post("/pay", json={}).status_code == 400
    assert control.post("/pay", content=b"not json").status_code == 400
    assert control.get("/nope").status_code == 404


def test_graphql_endpoint_refuses_like_apollo(fake_blink: FakeBlink) -> None:
    with httpx.Client(timeout=5) as http:
        syntax = http.post(fake_blink.url, json={"query": "query {"})
        invalid = http.post(fake_blink.url, json={"query": "query { nope }"})
        bad_key = http.post(fake_blink.url, json={"query": "query { me { id } }"}, headers={"X-API-KEY": "blink_x"})
        anonymous = http.post(fake_blink.url, json={"query": "query { me { id } }"})

    assert syntax.status_code == 400
    assert syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert invalid.status_code == 400
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert bad_key.status_code == 401
    assert anonymous.json() == {"data": {"me": None}}


def test_requests_show_when_each_arrived_and_was_answered(blink_client: BlinkClient, control: httpx.Client) -> None:
    # the bench splits a sale's time between the provider and BlinkPOS with these (bench/tipflow.py)
    control.post("/latency", json={"operation": "realtimePrice", "seconds": 0.2})
    before = time.time()
    blink_client.btc_price(currency="EUR")
    control.post("/latency", json={"operation": "realtimePrice", "seconds": 0})
    blink_client.btc_price(currency="EUR")

    slow, fast = control.get("/requests").json()[-2:]
    assert slow["operations"] == fast["operations"] == ["realtimePrice"]
    assert before <= slow["arrived"] and slow["at"] - slow["arrived"] >= 0.2
    assert 0 <= fast["at"] - fast["arrived"] < 0.2 and fast["arrived"] >= slow["at"]
