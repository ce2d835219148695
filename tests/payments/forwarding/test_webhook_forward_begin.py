"""The webhook worker begins the forward in its detection's own transaction
(payments/services/forwarding.py ``forward_begin_locked``): ``paid`` and ``processing`` commit together,
one transaction sooner, and nothing else about what is committed before what changes. A failure in that
transaction rolls both back and frees the advisory lock; a lock another worker holds leaves the split
``paid`` for the forward that worker (or the reconciler) runs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, WebhookDelivery
from payments.services import forwarding
from payments.services.forwarding import forward_split
from payments.services.webhooks import delivery_process
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, paid_body, sign

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/webhooks/blink"


def _delivered(client: Client, fake_blink: FakeBlink, split: PaymentSplit) -> int:
    body, _preimage = paid_body(fake_blink, split.payment_hash)
    response = client.post(URL, data=body, content_type="application/json", headers=sign(body))
    assert response.json() == {"status": "accepted", "outcome": "queued"}
    return WebhookDelivery.objects.get(payment_hash=split.payment_hash).pk


def _xmin(table: str, where: str, *params: object) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text::bigint FROM {table} WHERE {where} ORDER BY id", params)  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def test_paid_and_the_forwards_start_commit_in_the_detections_transaction(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split(tips=(100, 50))
    delivery_id = _delivered(client, fake_blink, split)

    assert delivery_process(delivery_id=delivery_id) == "paid:completed"

    # the "paid" and "forwarding_started" events and the delivery's final outcome were written by one
    # transaction (PostgreSQL's xmin: the id of the transaction that wrote the row version)
    [paid] = _xmin("payment_events", "payment_hash = %s AND event_type = 'paid'", split.payment_hash)
    [started] = _xmin("payment_events", "payment_hash = %s AND event_type = 'forwarding_started'", split.payment_hash)
    [delivery] = _xmin("webhook_deliveries", "id = %s", delivery_id)
    assert paid == started == delivery
    # while every payout invoice was still committed in a later transaction, before anything paid it
    [*created] = _xmin("payment_events", "payment_hash = %s AND event_type = 'leg_invoice_created'", split.payment_hash)
    assert len(created) == 3 and paid not in created
    events = [e.event_type for e in PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk")]
    assert events.index("forwarding_started") < events.index("leg_invoice_created") < events.index("leg_sent")
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert fake_blink.balance(parties.staff[0].wallet_id) == 100
    assert fake_blink.balance(parties.staff[1].wallet_id) == 50
    # the advisory lock was released once the forward ended
    assert get_redis_connection("hot").get(f"lock:payment:{split.payment_hash}") is None
    assert_money_invariants(fake_blink, [split.pk])


def test_a_failure_in_the_forwards_first_step_rolls_the_detection_back_and_frees_the_lock(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = make_split(tips=(100,))
    delivery_id = _delivered(client, fake_blink, split)

    def broken(**_kwargs: object) -> None:
        raise RuntimeError("pool accrual broke")

    with monkeypatch.context() as patched:
        patched.setattr(forwarding, "pool_accrue_locked", broken)
        with pytest.raises(RuntimeError, match="pool accrual broke"):
            delivery_process(delivery_id=delivery_id)

    # nothing of the transaction stayed: the split is pending, no event, the delivery still queued, no lock
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.PENDING
    assert not PaymentEvent.objects.filter(split_id=split.payment_hash, event_type__in=["paid", "forwarding_started"])
    assert WebhookDelivery.objects.get(pk=delivery_id).outcome == "queued"
    assert get_redis_connection("hot").get(f"lock:payment:{split.payment_hash}") is None

    # the task's retry detects and forwards it, once
    assert delivery_process(delivery_id=delivery_id) == "paid:completed"
    for leg in PaymentLeg.objects.filter(split=split):
        assert leg.status == LegStatus.SUCCEEDED and fake_blink.debits_for(leg.payment_hash or "") == 1
    assert_money_invariants(fake_blink, [split.pk])


def test_a_lock_held_elsewhere_leaves_the_split_paid_for_that_forward(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = make_split(tips=(100,))
    delivery_id = _delivered(client, fake_blink, split)
    redis = get_redis_connection("hot")
    key = f"lock:payment:{split.payment_hash}"
    redis.set(key, "another-worker", ex=60)

    assert delivery_process(delivery_id=delivery_id) == "paid:busy"

    # detection committed on its own; the forward was left to the lock's holder, and its lock untouched
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.PAID
    assert not PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="forwarding_started").exists()
    assert redis.get(key) == b"another-worker"
    assert set(PaymentLeg.objects.filter(split=split).values_list("status", flat=True)) == {LegStatus.PLANNED}

    redis.delete(key)  # the holder is gone: the next forward (the reconciler's) does it
    assert forward_split(split_id=split.pk) == "completed"
    assert_money_invariants(fake_blink, [split.pk])
