"""End to end: a real sale paid at the fake Blink, Blink's webhook to the app, a REAL Celery worker
detecting, forwarding and delivering the merchant's webhooks to a loopback receiver, where the Standard
Webhooks reference implementation verifies them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import MerchantWebhookMessage, MessageStatus, SplitStatus
from payments.services.webhook_endpoints import endpoint_create
from tests.payments.forwarding.conftest import MakeSplit, StartWorker, paid_body, sign, split_status, wait_for
from tests.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = [server.host]
    yield server
    server.stop()


def test_a_worker_delivers_signed_paid_and_completed_webhooks_for_a_real_sale(
    client: Client,
    fake_blink: FakeBlink,
    make_split: MakeSplit,
    parties: Any,
    start_worker: StartWorker,
    receiver: Receiver,
) -> None:
    # given a merchant's endpoint and a sale whose invoice exists at the fake Blink
    endpoint, secret = endpoint_create(
        merchant=parties.merchant, url=receiver.url, event_types=["invoice.paid", "payment.completed"]
    )
    split = make_split(base=1000, tips=(100, 50))
    start_worker()

    # when the customer pays and Blink's webhook reaches the app
    body, _ = paid_body(fake_blink, split.payment_hash)
    assert (
        client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body)).status_code
        == 200
    )

    # then the worker forwards the sale and delivers both events, each verifiable
    assert wait_for(lambda: split_status(split.pk) == SplitStatus.COMPLETED, timeout=60)
    assert receiver.wait(2, timeout=30), [r.body for r in receiver.received]
    payloads = [verify(secret, received) for received in receiver.received]
    assert sorted(p["type"] for p in payloads) == ["invoice.paid", "payment.completed"]
    completed = next(p for p in payloads if p["type"] == "payment.completed")
    assert completed["data"]["payment_hash"] == split.payment_hash and completed["data"]["status"] == "completed"
    assert wait_for(
        lambda: (
            set(MerchantWebhookMessage.objects.filter(endpoint=endpoint).values_list("status", flat=True))
            == {MessageStatus.SUCCEEDED}
        )
    )
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 2


@pytest.mark.django_db
def test_a_payout_that_cannot_be_paid_stores_payout_failed_and_payment_failed(
    fake_blink: FakeBlink, make_split: MakeSplit, parties: Any, settings: Any
) -> None:
    from payments.services.detection import payment_detected
    from payments.services.forwarding import forward_split

    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = ["127.0.0.1:21999"]
    endpoint, _ = endpoint_create(
        merchant=parties.merchant,
        url="http://127.0.0.1:21999/hooks",
        event_types=["payout.failed", "payment.failed", "payment.completed"],
    )
    split = make_split(base=1000, tips=(100,))
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    fake_blink.set_receive_disabled(parties.staff[0].blink_username)

    assert forward_split(split_id=split.pk) == "failed"

    messages = list(MerchantWebhookMessage.objects.filter(endpoint=endpoint).order_by("pk"))
    assert [m.event_type for m in messages] == ["payout.failed", "payment.failed"]
    payout = json.loads(messages[0].body)["data"]["payout"]
    assert payout["recipient"] == parties.staff[0].blink_username and payout["amount_sats"] == 100
