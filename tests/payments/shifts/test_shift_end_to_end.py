"""End to end with a REAL Celery worker and the fake Blink over HTTP: a merchant in pooled mode, three
staff clock in on a terminal with their PINs, sales are paid (the worker forwards only the bases), the
manager corrects a time, reviews and closes the shift in the dashboard, and the worker pays each person
their share exactly once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import ClockEntry, PoolPayout, PoolPayoutStatus, PoolRule, Shift, ShiftStatus, SplitStatus, TipOut
from payments.services.books_pools import pool_balance_parts
from payments.services.cashier_pins import cashier_pin_set
from payments.services.detection import payment_detected
from payments.services.shifts import clock_correct
from tests.payments.forwarding.conftest import StartWorker, split_status, start_worker, wait_for  # noqa: F401
from tests.payments.shifts.conftest import PooledShop

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PINS = ["1111", "2222", "3333"]


def test_three_staff_a_shift_and_one_payout_each(
    fake_blink: FakeBlink,
    pooled_shop: PooledShop,
    start_worker: StartWorker,  # noqa: F811
) -> None:
    # given: pooled by hours with a 10 % kitchen tip-out, PINs on the terminal, a worker running
    rule = PoolRule.objects.create(merchant=pooled_shop.merchant, method="hours")
    TipOut.objects.create(rule=rule, role=pooled_shop.kitchen, percent_bps=1000)
    for person, pin in zip(pooled_shop.staff, PINS, strict=True):
        cashier_pin_set(merchant=pooled_shop.merchant, terminal_id=pooled_shop.terminal.pk, staff_id=person.pk, pin=pin)
    terminal = Client()
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {pooled_shop.terminal.plain_key}"}
    start_worker()

    # when: everyone clocks in on the terminal
    for person, pin in zip(pooled_shop.staff, PINS, strict=True):
        answer = terminal.post(
            "/api/v1/terminal/clock",
            data=json.dumps({"staff_id": person.pk, "pin": pin, "action": "in"}),
            content_type="application/json",
            **auth,
        )
        assert answer.status_code == 200, answer.content
    shift = Shift.objects.get()

    # and three sales are paid by customers; the worker forwards their bases
    splits = []
    for base, tip in ((2000, 300), (5000, 500), (1000, 200)):
        created = terminal.post(
            "/api/v1/invoices",
            data=json.dumps({"amount_sats": base, "tip_sats": tip, "staff_id": pooled_shop.staff[0].pk}),
            content_type="application/json",
            **auth,
        )
        assert created.status_code == 201, created.content
        payment_hash = created.json()["payment_hash"]
        fake_blink.pay_invoice_as_customer(payment_hash)
        assert payment_detected(payment_hash=payment_hash, amount_sats=base + tip, source="test") == "paid"
        splits.append(shift.splits.get(payment_hash=payment_hash))
    assert wait_for(lambda: all(split_status(s.pk) == SplitStatus.COMPLETED for s in splits), timeout=60)
    assert fake_blink.balance(pooled_shop.merchant.wallet_id) == 1_000_000 + 8000  # bases only

    # and the manager sets the hours (6 h, 2 h, 4 h) with audited corrections
    end = timezone.now() - timedelta(minutes=1)
    for person, hours in zip(pooled_shop.staff, (6, 2, 4), strict=True):
        entry = ClockEntry.objects.get(shift=shift, staff=person)
        clock_correct(
            merchant=pooled_shop.merchant,
            entry_id=entry.pk,
            clock_in_at=(end - timedelta(hours=hours)).isoformat(),
            clock_out_at=end.isoformat(),
            reason="times from the paper rota",
            by="merchant:test",
        )

    # and reviews and confirms the close in the dashboard
    manager = Client()
    manager.force_login(pooled_shop.merchant.user)
    review = manager.get(f"/shifts/{shift.pk}/")
    assert [p.amount_sats for p in review.context["preview"].people] == [675, 225, 100]
    confirmed = manager.post(
        f"/shifts/{shift.pk}/close/",
        {"fingerprint": review.context["preview"].fingerprint, "as_of": review.context["preview"].as_of.isoformat()},
    )
    again = manager.post(
        f"/shifts/{shift.pk}/close/",
        {"fingerprint": review.context["preview"].fingerprint, "as_of": review.context["preview"].as_of.isoformat()},
    )

    # then: the worker pays each person once; the second confirmation changed nothing
    assert confirmed.status_code == 302 and again.status_code == 409
    assert wait_for(lambda: Shift.objects.get(pk=shift.pk).status == ShiftStatus.SETTLED, timeout=60)
    payouts = list(PoolPayout.objects.filter(shift=shift).order_by("staff_id"))
    assert len(payouts) == 3 and all(p.status == PoolPayoutStatus.SUCCEEDED for p in payouts)
    assert [fake_blink.balance(s.wallet_id) for s in pooled_shop.staff] == [675, 225, 100]
    assert all(fake_blink.debits_for(p.payment_hash or "") == 1 for p in payouts)
    parts = pool_balance_parts()
    assert parts["pool_paid_out"] == 1000 and parts["pooled_tips_waiting"] == 0
