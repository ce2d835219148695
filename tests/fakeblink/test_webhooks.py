"""Webhooks from the fake Blink: Blink's body shape (docs/ARCHITECTURE.md, Blink: webhooks), real svix
signatures, retries, redelivery with the same svix-id."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from fakeblink import FakeBlink
from payments.wallet.client import BlinkClient

from .conftest import WEBHOOK_SECRET, WebhookReceiver


def _paid_sale(fake_blink: FakeBlink, blink_client: BlinkClient, receiver: WebhookReceiver) -> str:
    fake_blink.configure_webhooks(receiver.url, WEBHOOK_SECRET)
    invoice = blink_client.create_invoice(amount_sats=2_707, memo="Coffee", expires_in_minutes=15, external_id="sale-w")
    fake_blink.pay_invoice_as_customer(invoice.payment_hash)
    assert receiver.wait(1)
    return invoice.payment_hash


def test_customer_payment_sends_a_signed_receive_lightning_event(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    # when
    payment_hash = _paid_sale(fake_blink, blink_client, webhook_receiver)

    # then the signature verifies over the raw body, as the app will check it
    headers, body = webhook_receiver.received[0]
    Webhook(WEBHOOK_SECRET).verify(body, headers)
    assert headers["svix-id"].startswith("msg_")
    assert abs(int(headers["svix-timestamp"]) - time.time()) < 60
    # and the body is Blink's internal transaction object
    event = json.loads(body)
    assert event["eventType"] == "receive.lightning"
    assert event["accountId"] == fake_blink.platform.id
    assert event["walletId"] == fake_blink.platform_wallet_id
    tx = event["transaction"]
    assert tx["status"] == "success"
    assert tx["externalId"] == "sale-w"
    assert tx["settlementAmount"] == 2_707
    assert tx["settlementCurrency"] == "BTC"
    assert tx["initiationVia"] == {
        "type": "lightning",
        "paymentHash": payment_hash,
        "pubkey": tx["initiationVia"]["pubkey"],
    }
    assert tx["settlementVia"]["type"] == "lightning"
    preimage = tx["settlementVia"]["revealedPreImage"]
    assert hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash


def test_one_changed_body_byte_fails_verification(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    _paid_sale(fake_blink, blink_client, webhook_receiver)
    headers, body = webhook_receiver.received[0]

    tampered = bytearray(body)
    index = body.index(b"2707")
    tampered[index] = ord("9")

    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(bytes(tampered), headers)


def test_a_different_secret_fails_verification(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    _paid_sale(fake_blink, blink_client, webhook_receiver)
    headers, body = webhook_receiver.received[0]

    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0xMjM0").verify(body, headers)


def test_redelivery_keeps_the_svix_id_and_body(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    # given one delivered event
    _paid_sale(fake_blink, blink_client, webhook_receiver)
    first_headers, first_body = webhook_receiver.received[0]

    # when it is redelivered
    attempt = fake_blink.redeliver(first_headers["svix-id"])

    # then
    assert attempt.status_code == 200
    second_headers, second_body = webhook_receiver.received[1]
    assert second_headers["svix-id"] == first_headers["svix-id"]
    assert second_body == first_body
    Webhook(WEBHOOK_SECRET).verify(second_body, second_headers)


def test_failed_deliveries_are_retried_with_the_same_svix_id(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver
) -> None:
    # given an endpoint that fails twice
    webhook_receiver.statuses = [500, 503]

    _paid_sale(fake_blink, blink_client, webhook_receiver)

    # then the fake retries until it gets a 2xx and records every attempt
    assert webhook_receiver.wait(3)
    assert fake_blink.wait_for_webhooks(timeout=5)
    assert len({h["svix-id"] for h, _ in webhook_receiver.received}) == 1
    (message,) = fake_blink.webhook_messages()
    assert [a["status_code"] for a in message["attempts"]] == [500, 503, 200]
    assert message["delivered"] is True


def test_an_unreachable_endpoint_never_breaks_the_fake(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    # given webhooks pointing at a closed port
    fake_blink.configure_webhooks("http://127.0.0.1:1/webhooks", WEBHOOK_SECRET)
    invoice = blink_client.create_invoice(amount_sats=5, memo=None, expires_in_minutes=5, external_id="sale-u")

    # when a payment triggers an event
    fake_blink.pay_invoice_as_customer(invoice.payment_hash)

    # then deliveries are recorded as failed, retried, given up; the API still answers
    assert fake_blink.wait_for_webhooks(timeout=5)
    (message,) = fake_blink.webhook_messages()
    assert message["exhausted"] is True
    assert all(a["status_code"] is None for a in message["attempts"])
    assert blink_client.btc_price(currency="USD").currency == "USD"


def test_platform_sends_emit_send_lightning_events(
    fake_blink: FakeBlink, blink_client: BlinkClient, webhook_receiver: WebhookReceiver, alice: str
) -> None:
    fake_blink.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    invoice = blink_client.create_invoice_for_recipient(
        recipient_wallet_id=alice, amount_sats=300, memo=None, external_id="leg-w"
    )

    blink_client.pay_invoice(payment_request=invoice.payment_request)

    assert webhook_receiver.wait(1)
    event = json.loads(webhook_receiver.received[0][1])
    assert event["eventType"] == "send.lightning"
    assert event["transaction"]["settlementAmount"] == -300
    assert event["transaction"]["settlementVia"]["type"] == "intraledger"
    assert event["transaction"]["settlementVia"]["counterPartyWalletId"] == alice


def test_deliver_raw_with_a_chosen_id_and_stale_timestamp(
    fake_blink: FakeBlink, webhook_receiver: WebhookReceiver
) -> None:
    # given an event signed ten minutes ago (svix allows five)
    stale = int(time.time()) - 600

    attempt = fake_blink.deliver_raw(
        body={"eventType": "receive.lightning"},
        svix_id="msg_replay1",
        timestamp=stale,
        url=webhook_receiver.url,
        secret=WEBHOOK_SECRET,
    )

    assert attempt.status_code == 200
    headers, body = webhook_receiver.received[0]
    assert headers["svix-id"] == "msg_replay1"
    assert headers["svix-timestamp"] == str(stale)
    with pytest.raises(WebhookVerificationError):
        Webhook(WEBHOOK_SECRET).verify(body, headers)  # signature fine, timestamp too old


def test_webhook_secret_must_be_a_whsec_string(fake_blink: FakeBlink) -> None:
    with pytest.raises(ValueError, match="whsec_"):
        fake_blink.configure_webhooks("http://127.0.0.1:9/x", "not-a-secret")


def test_an_event_body_is_built_only_for_an_account_with_an_endpoint(
    fake_blink: FakeBlink, webhook_receiver: WebhookReceiver
) -> None:
    built: list[str] = []

    def body() -> dict[str, str]:
        built.append("built")
        return {"eventType": "receive.lightning"}

    assert fake_blink.webhooks.enqueue_event(fake_blink.platform.id, "receive.lightning", body) is None
    assert built == []
    fake_blink.configure_webhooks(webhook_receiver.url, WEBHOOK_SECRET)
    assert fake_blink.webhooks.enqueue_event(fake_blink.platform.id, "receive.lightning", body) is not None
    assert built == ["built"] and webhook_receiver.wait(1)
    assert json.loads(webhook_receiver.received[0][1]) == {"eventType": "receive.lightning"}
