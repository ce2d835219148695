"""Blink's behaviours on the forwarding side: the platform's daily intraledger limit
(``TRANSACTION_RESTRICTED``) makes a payout wait on a bounded schedule ending with an operator, never
fail the split at once; webhooks that never arrive (Svix gave up, then disabled the endpoint) do not
stop a payment from being detected and forwarded; ``settlementAmount`` sent as a string is read."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from analytics.services.metrics import alerts_evaluate, metrics_collect
from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus, WebhookDelivery
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.reconcile import reconcile_once
from payments.services.webhooks import delivery_process
from tests.payments.forwarding.conftest import (
    MakeSplit,
    assert_money_invariants,
    paid_body,
    queued_messages,
    sign,
)

pytestmark = pytest.mark.django_db(transaction=True)
Shift = Callable[[float], None]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Shift:
    """The product's clock (``django.utils.timezone.now``), moved forward by the test."""
    offset = timedelta()
    real_now = timezone.now

    def now() -> datetime:
        return real_now() + offset

    def shift(seconds: float) -> None:
        nonlocal offset
        offset += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", now)
    return shift


def _paid(fake: FakeBlink, make_split: MakeSplit, **kwargs: Any) -> PaymentSplit:
    split = make_split(**kwargs)
    fake.pay_invoice_as_customer(split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    return split


def _legs(split: PaymentSplit) -> list[PaymentLeg]:
    return list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _alerts() -> set[str]:
    return {a.name for a in alerts_evaluate(metrics_collect())}


def test_daily_limit_makes_the_payout_wait_not_fail_then_it_is_paid_when_the_window_rolls(
    fake_blink: FakeBlink, make_split: MakeSplit, parties: Any, clock: Shift
) -> None:
    # given the platform's daily intraledger limit at 100 cents (USD at 100 000: 1 000 sats)
    fake_blink.configure_limits({"intraledger_daily_cents": 100})
    split = _paid(fake_blink, make_split, base=1000, tips=(100,))

    # when it is forwarded: the merchant's 1 000 sats fit, the 100-sat tip does not
    assert forward_split(split_id=split.pk) == "in_progress"

    # then the split waits (processing, a next attempt), the tip leg waits on the limit's schedule
    split.refresh_from_db()
    merchant_leg, tip_leg = _legs(split)
    assert split.status == SplitStatus.PROCESSING and split.next_attempt_at is not None
    assert merchant_leg.status == LegStatus.SUCCEEDED
    assert tip_leg.status == LegStatus.FAILED and tip_leg.last_error_code == "TRANSACTION_RESTRICTED"
    wait = (tip_leg.next_attempt_at - timezone.now()).total_seconds()
    assert 890 <= wait <= 900  # the first wait: 15 minutes
    assert fake_blink.debits_for(tip_leg.payment_hash) == 0
    assert "forwards_waiting_for_daily_limit" in _alerts()

    # and nothing is retried before the wait is over
    reconcile_once(lease_seconds=0, stale_seconds=0)
    for message in queued_messages():
        forward_split(split_id=message["args"][0])
    tip_leg.refresh_from_db()
    assert tip_leg.attempts == 1

    # when the wait is over (Blink's clock and ours move together) but the day's volume is still used:
    # refused again, and the next wait is longer
    clock(901)
    fake_blink.advance_clock(901)
    assert forward_split(split_id=split.pk) == "in_progress"
    tip_leg.refresh_from_db()
    assert tip_leg.status == LegStatus.FAILED and tip_leg.attempts == 2
    assert 1790 <= (tip_leg.next_attempt_at - timezone.now()).total_seconds() <= 1800
    split.refresh_from_db()
    assert split.status == SplitStatus.PROCESSING

    # when Blink's 24 hours have rolled on (past the first payout invoice's life too)
    refused_hash = tip_leg.payment_hash
    clock(24 * 3600)
    fake_blink.advance_clock(24 * 3600)
    assert forward_split(split_id=split.pk) == "completed"

    # then a new payout invoice is paid, once; the refused one never was; the split completes
    tip_leg.refresh_from_db()
    assert tip_leg.status == LegStatus.SUCCEEDED and tip_leg.attempts == 3
    assert tip_leg.payment_hash != refused_hash
    assert fake_blink.debits_for(refused_hash) == 0 and fake_blink.debits_for(tip_leg.payment_hash) == 1
    assert fake_blink.balance(parties.staff[0].wallet_id) == 100
    assert "forwards_waiting_for_daily_limit" not in _alerts()
    assert_money_invariants(fake_blink, [split.pk])


def test_the_limit_schedule_is_bounded_and_ends_with_an_operator(
    fake_blink: FakeBlink, make_split: MakeSplit, settings: Any, clock: Shift
) -> None:
    # given a limit that never lifts and a two-step schedule
    settings.FORWARD_LIMIT_RETRY_SECONDS = [60, 120]
    fake_blink.configure_limits({"intraledger_daily_cents": 0})
    split = _paid(fake_blink, make_split, base=1000, tips=())

    # when every attempt is refused
    assert forward_split(split_id=split.pk) == "in_progress"
    clock(61)
    assert forward_split(split_id=split.pk) == "in_progress"
    clock(121)
    outcome = forward_split(split_id=split.pk)

    # then after the schedule the split is handed to an operator, nothing was paid
    split.refresh_from_db()
    (leg,) = _legs(split)
    assert outcome == "failed" and split.status == SplitStatus.FAILED
    assert "TRANSACTION_RESTRICTED" in split.error_message
    assert leg.status == LegStatus.FAILED and leg.next_attempt_at is None and leg.attempts == 3
    assert fake_blink.debits_for(leg.payment_hash) == 0
    assert "forwards_stopped_by_daily_limit" in _alerts()
    assert_money_invariants(fake_blink, [split.pk])


def test_a_payment_whose_webhooks_all_failed_is_detected_and_forwarded_by_the_reconciler(
    fake_blink: FakeBlink, make_split: MakeSplit, parties: Any
) -> None:
    # given webhooks pointed at an endpoint that has failed for five days: Svix disabled it
    fake_blink.configure_webhooks("http://127.0.0.1:9/webhooks/blink", "whsec_" + "QUJD" * 8)
    earlier = make_split()
    fake_blink.pay_invoice_as_customer(earlier.payment_hash)
    _wait_until(lambda: bool(next(iter(fake_blink.webhook_endpoints().values()))["failing_since"]))
    fake_blink.advance_clock(5 * 24 * 3600)
    _wait_until(lambda: bool(next(iter(fake_blink.webhook_endpoints().values()))["disabled"]))

    # when a customer pays a new sale
    split = make_split()
    fake_blink.pay_invoice_as_customer(split.payment_hash)

    # then no webhook ever reaches BlinkPOS for it
    sale_messages = [m for m in fake_blink.webhook_messages() if split.payment_hash in m["body"]]
    assert sale_messages and all(not m["delivered"] and m["dropped"] for m in sale_messages)
    assert all(not m["delivered"] for m in fake_blink.webhook_messages())
    assert not WebhookDelivery.objects.exists()

    # and the reconciler's status poll detects it and publishes the forward, which pays every share
    counts = reconcile_once(lease_seconds=0)
    assert counts["detected"] == 2  # the earlier sale too
    forwarded = {m["args"][0] for m in queued_messages() if m["task"].endswith("forward_split_task")}
    assert split.pk in forwarded
    assert forward_split(split_id=split.pk) == "completed"
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


def test_settlement_amount_sent_as_a_string_is_read(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties: Any
) -> None:
    # given Blink's body for a paid sale with its bigints serialised as strings
    fake_blink.set_webhook_string_amounts(1.0)
    split = make_split()
    body, _ = paid_body(fake_blink, split.payment_hash)
    assert b'"settlementAmount":"1150"' in body

    # when it is delivered and the worker acts on it
    response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))
    assert response.json() == {"status": "accepted", "outcome": "queued"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.amount_sats == 1150

    # then the payment is detected with its amount and forwarded
    assert delivery_process(delivery_id=delivery.pk) == "paid:completed"
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED and split.received_amount == 1150
    assert_money_invariants(fake_blink, [split.pk])
