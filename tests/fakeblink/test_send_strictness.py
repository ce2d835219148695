"""The fake answers a send the way Blink does when it matters for exactly-once: ALREADY_PAID (with the
earlier send's transaction) only while Blink's payment flow is cached, then FAILURE "Invoice is
already paid"; a payment recorded and then answered with an error; a key without WRITE refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakeblink import FakeBlink
from payments.wallet import documents
from payments.wallet.client import BlinkClient
from payments.wallet.types import SendStatus


@pytest.fixture
def control(fake_blink: FakeBlink) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{fake_blink.base_url}/control", timeout=5) as client:
        yield client


def _send(fake: FakeBlink, payment_request: str) -> dict[str, Any]:
    """The raw GraphQL answer of lnInvoicePaymentSend with the platform key."""
    reply = httpx.post(
        fake.url,
        json={
            "query": documents.LN_INVOICE_PAYMENT_SEND,
            "variables": {"input": {"walletId": fake.platform_wallet_id, "paymentRequest": payment_request}},
        },
        headers={"X-API-KEY": fake.platform_api_key},
        timeout=5,
    )
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def test_already_paid_carries_the_send_then_fails_once_the_payment_flow_expired(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client, alice: str
) -> None:
    # given Blink's 5-minute payment-flow cache, and an invoice the platform paid
    control.post("/already-paid", json={"flow_seconds": 300}).raise_for_status()
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="p"
    )
    first = _send(fake_blink, payout.payment_request)["data"]["lnInvoicePaymentSend"]
    assert first["status"] == "SUCCESS"

    # when it is paid again inside the window: ALREADY_PAID with the first send's transaction
    again = _send(fake_blink, payout.payment_request)["data"]["lnInvoicePaymentSend"]
    assert again["status"] == "ALREADY_PAID" and again["errors"] == []
    assert again["transaction"]["id"] == first["transaction"]["id"]

    # when it is paid again after the flow expired: an application error, not ALREADY_PAID
    control.post("/clock", json={"advance_seconds": 301}).raise_for_status()
    late = _send(fake_blink, payout.payment_request)["data"]["lnInvoicePaymentSend"]
    assert late["status"] == "FAILURE"
    assert late["errors"][0]["code"] == "LIGHTNING_PAYMENT_ERROR"
    assert late["errors"][0]["message"] == "Invoice is already paid"
    result = blink_client.pay_invoice(payment_request=payout.payment_request)
    assert result.status is SendStatus.FAILED and result.message == "Invoice is already paid"

    # then no second debit ever happened, and the ledger still shows the one send
    assert fake_blink.debits_for(payout.payment_hash) == 1
    assert blink_client.payment_lookup(payment_hash=payout.payment_hash).status is SendStatus.SUCCEEDED


def test_an_invoice_someone_else_paid_fails_at_once_inside_the_window(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    fake_blink.set_already_paid_flow(300)
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="q"
    )
    fake_blink.pay_invoice_as_customer(payout.payment_hash)  # not the platform's payment flow

    answer = _send(fake_blink, payout.payment_request)["data"]["lnInvoicePaymentSend"]

    assert answer["status"] == "FAILURE" and answer["errors"][0]["message"] == "Invoice is already paid"
    assert fake_blink.debits_for(payout.payment_hash) == 0


def test_without_the_flow_window_already_paid_stays_the_answer(
    fake_blink: FakeBlink, blink_client: BlinkClient, alice: str
) -> None:
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="r"
    )
    assert blink_client.pay_invoice(payment_request=payout.payment_request).ok
    fake_blink.advance_clock(3600)
    again = blink_client.pay_invoice(payment_request=payout.payment_request)
    assert again.status is SendStatus.SUCCEEDED and again.already_paid


def test_error_after_apply_records_the_payment_then_answers_failure(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client, alice: str
) -> None:
    control.post("/script", json={"operation": "lnInvoicePaymentSend", "outcomes": ["ERROR_AFTER_APPLY"]})
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="s"
    )

    answer = _send(fake_blink, payout.payment_request)["data"]["lnInvoicePaymentSend"]

    assert answer["status"] == "FAILURE" and answer["errors"][0]["code"] == "UNKNOWN_CLIENT_ERROR"
    assert fake_blink.debits_for(payout.payment_hash) == 1
    assert fake_blink.balance(alice) == 10
    assert fake_blink.invoice(payout.payment_hash)["status"] == "PAID"
    assert blink_client.payment_lookup(payment_hash=payout.payment_hash).status is SendStatus.SUCCEEDED


def test_a_key_without_write_is_refused_sends_but_still_reads(
    fake_blink: FakeBlink, blink_client: BlinkClient, control: httpx.Client, alice: str
) -> None:
    payout = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=10, memo=None, external_id="t"
    )
    control.post("/scopes", json={"scopes": ["READ", "RECEIVE"]}).raise_for_status()

    body = _send(fake_blink, payout.payment_request)

    # Blink's scope check throws: a top-level error, no payload (the non-null field nulls ``data``)
    assert (body.get("data") or {}).get("lnInvoicePaymentSend") is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_AUTHORIZED"
    assert body["errors"][0]["message"] == "not authorized to execute mutations"
    result = blink_client.pay_invoice(payment_request=payout.payment_request)
    assert result.status is SendStatus.UNKNOWN and result.error_code == "NOT_AUTHORIZED"
    assert fake_blink.debits_for(payout.payment_hash) == 0
    assert blink_client.payment_lookup(payment_hash=payout.payment_hash).status is SendStatus.UNKNOWN  # READ works
    assert control.post("/scopes", json={"scopes": ["ADMIN"]}).status_code == 400
