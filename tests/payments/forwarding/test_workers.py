"""End to end with REAL Celery worker processes: concurrent duplicate webhooks, the webhook task run
twice at once by two workers, workers SIGKILLed just before and just after the send, a broker outage
that loses the message, two reconcilers at once. Each scenario ends with the money invariants."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection
from django.test import override_settings

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, SplitStatus, WebhookDelivery
from payments.services.detection import payment_detected
from payments.services.enqueue import enqueue_webhook_delivery
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import (
    MakeSplit,
    StartWorker,
    assert_money_invariants,
    paid_body,
    queue_length,
    queued_messages,
    receive_body,
    sign,
    split_status,
    wait_for,
)
from tests.payments.forwarding.test_webhooks import broker_at

TASK = "payments.tasks.forwarding.webhook_delivery_task"
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_same_signed_webhook_fifty_times_concurrently_forwards_once(
    live_server, fake_blink: FakeBlink, make_split: MakeSplit, start_worker: StartWorker, parties
) -> None:
    # given a paid invoice and one signed delivery
    split = make_split()
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    headers = sign(body)
    barrier = threading.Barrier(50)

    def deliver(_: int) -> int:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            for _attempt in range(10):
                try:
                    return http.post(f"{live_server.url}/webhooks/blink", content=body, headers=headers).status_code
                except httpx.TransportError:
                    # The test server's listen backlog is small; a refused connect is retried, as Svix would.
                    time.sleep(0.05)
            return 0

    # when it arrives 50 times at once
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(deliver, range(50)))

    # then all are acknowledged, one is recorded and one task (detection + forward) is queued
    assert statuses == [200] * 50
    assert WebhookDelivery.objects.count() == 1
    assert queue_length() == 1
    start_worker()
    assert wait_for(lambda: split_status(split.pk) == SplitStatus.COMPLETED)
    assert PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="paid").count() == 1
    assert WebhookDelivery.objects.get().outcome == "paid"
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


def test_the_webhook_task_twice_at_once_in_two_workers_pays_and_forwards_exactly_once(
    client, fake_blink: FakeBlink, make_split: MakeSplit, start_worker: StartWorker, parties
) -> None:
    # given one acknowledged delivery whose task is in the queue twice (a redelivered message, or a
    # sweep racing a slow worker), and a provider slow enough that both workers overlap
    split = make_split(tips=(100, 50))
    body, _preimage = paid_body(fake_blink, split.payment_hash)
    assert client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body)).json() == {
        "status": "accepted",
        "outcome": "queued",
    }
    delivery = WebhookDelivery.objects.get()
    enqueue_webhook_delivery(delivery.pk)
    assert [(m["task"], m["args"]) for m in queued_messages()] == [(TASK, [delivery.pk])] * 2
    fake_blink.set_latency("lnInvoiceCreateOnBehalfOfRecipient", 0.2)

    # when two worker processes take one message each
    start_worker()
    start_worker()

    # then the split is paid once, each leg is paid once, and the delivery keeps the outcome
    assert wait_for(lambda: split_status(split.pk) == SplitStatus.COMPLETED, timeout=30)
    assert wait_for(lambda: queue_length() == 0)
    assert PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="paid").count() == 1
    delivery.refresh_from_db()
    assert delivery.outcome == "paid" and delivery.processed_at is not None
    for leg in PaymentLeg.objects.filter(split=split):
        assert leg.status == LegStatus.SUCCEEDED
        assert fake_blink.debits_for(leg.payment_hash or "") == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert fake_blink.balance(parties.staff[0].wallet_id) == 100
    assert fake_blink.balance(parties.staff[1].wallet_id) == 50
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.parametrize("fault", ["before_send", "after_send"])
def test_worker_killed_around_the_send_still_pays_each_leg_exactly_once(
    fake_blink: FakeBlink, make_split: MakeSplit, start_worker: StartWorker, parties, fault: str
) -> None:
    # given a worker that SIGKILLs itself at the fault point
    split = make_split(tips=(100,))
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    doomed = start_worker(fault=fault)

    # when a payment is detected and the worker takes the forward
    payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test")
    assert doomed.wait_exit(timeout=30) == -9
    leg = PaymentLeg.objects.filter(split=split).order_by("pk").first()
    assert leg is not None and leg.status == LegStatus.SENDING
    assert fake_blink.debits_for(leg.payment_hash) == (1 if fault == "after_send" else 0)

    # then a healthy worker plus the reconciler finish the job from PostgreSQL
    start_worker()

    def finished() -> bool:
        reconcile_once(lease_seconds=0, stale_seconds=0, sending_stale_seconds=0)
        return split_status(split.pk) == SplitStatus.COMPLETED

    assert wait_for(finished, timeout=30, interval=0.5)
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED
    assert fake_blink.debits_for(leg.payment_hash) == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert fake_blink.balance(parties.staff[0].wallet_id) == 100
    assert_money_invariants(fake_blink, [split.pk])


def test_broker_outage_loses_the_message_and_the_reconciler_forwards_from_postgresql(
    client, fake_blink: FakeBlink, make_split: MakeSplit, start_worker: StartWorker, parties
) -> None:
    splits = [make_split(), make_split(tips=(7,))]
    for split in splits:
        fake_blink.pay_invoice_as_customer(split.payment_hash)
    dead = "redis://127.0.0.1:1/0"
    with broker_at(dead), override_settings(CELERY_BROKER_URL=dead):
        for split in splits:
            body = receive_body(fake_blink, split.payment_hash, split.total_amount)
            response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))
            assert response.status_code == 200
    assert queue_length() == 0  # the queue has nothing: Redis "restarted empty"
    assert list(WebhookDelivery.objects.values_list("outcome", flat=True)) == ["queued", "queued"]
    start_worker()

    # the sweep acts on the deliveries whose task was never published and publishes their forwards
    counts = reconcile_once(delivery_grace_seconds=0)
    assert counts["swept"] == 2
    assert set(WebhookDelivery.objects.values_list("outcome", flat=True)) == {"paid"}
    assert wait_for(lambda: all(split_status(s.pk) == SplitStatus.COMPLETED for s in splits))
    assert fake_blink.balance(parties.merchant.wallet_id) == 2000
    assert_money_invariants(fake_blink, [s.pk for s in splits])


def test_two_reconcilers_at_once_claim_disjoint_work(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    # given twelve invoices paid at Blink whose webhooks never came
    splits = [make_split(tips=()) for _ in range(12)]
    for split in splits:
        fake_blink.pay_invoice_as_customer(split.payment_hash)
    fake_blink.set_latency("lnInvoicePaymentStatusByHash", 0.05)
    barrier = threading.Barrier(2)

    def run(_: int) -> dict[str, int]:
        try:
            barrier.wait()
            return reconcile_once(batch_size=6)
        finally:
            connection.close()  # each thread had its own connection

    # when two reconcilers run at the same moment
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(2)))

    # then each split was claimed and detected by exactly one of them
    assert sum(r.get("polled", 0) for r in results) == 12
    assert sum(r.get("detected", 0) for r in results) == 12
    assert all(r.get("polled", 0) == 6 for r in results)
    for split in splits:
        assert PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="paid").count() == 1
        assert split_status(split.pk) == SplitStatus.PAID
    assert queue_length() == 12
