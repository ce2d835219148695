"""Pooled tips end to end through the services, against the fake Blink over HTTP: a pooled sale forwards
only its base, the pool is allocated at close, each person is paid once, failures stay contained."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import (
    AdjustmentKind,
    LegStatus,
    PoolAccrual,
    PoolPayout,
    PoolPayoutStatus,
    PoolRule,
    Refund,
    Shift,
    ShiftEvent,
    ShiftStatus,
    TipAdjustment,
    TipOut,
)
from payments.services.forwarding import forward_split
from payments.services.pool_accruals import pool_waiting_sats
from payments.services.pool_payouts import pool_payout_reopen, pool_payout_run
from payments.services.refund_sweep import refunds_sweep
from payments.services.shift_close import shift_close_confirm, shift_close_preview
from payments.services.shifts import ShiftRefused, clock_correct
from tests.factories import MerchantFactory, PaymentSplitFactory
from tests.payments.shifts.conftest import PooledShop, Sell, work

pytestmark = pytest.mark.django_db(transaction=True)


def close(shop: PooledShop, shift: Shift) -> Shift:
    preview = shift_close_preview(merchant=shop.merchant, shift_id=shift.pk)
    return shift_close_confirm(
        merchant=shop.merchant,
        shift_id=shift.pk,
        fingerprint=preview.fingerprint,
        as_of=preview.as_of.isoformat(),
        by="merchant:test",
    )


def pay_all(shift: Shift) -> dict[int, str]:
    return {p.pk: pool_payout_run(payout_id=p.pk) for p in PoolPayout.objects.filter(shift=shift).order_by("pk")}


def test_a_pooled_sale_forwards_only_the_base_and_pools_the_tip(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: an open shift on the terminal's group
    shift = work(pooled_shop, {0: 1})

    # when
    split = sell(base=1000, tip=150)

    # then: one leg (the base), the tip kept for the shift, conserving the total
    legs = list(split.legs.all())
    assert [(leg.kind, leg.amount, leg.status) for leg in legs] == [("merchant", 1000, LegStatus.SUCCEEDED)]
    assert split.shift_id == shift.pk and split.pooled_amount == 150
    assert sum(leg.amount for leg in legs) + split.pooled_amount == split.total_amount
    assert PoolAccrual.objects.get(split=split).shift_id == shift.pk
    assert split.events.filter(event_type="tip_pooled").count() == 1
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 0  # no tip forwarded per sale
    assert pool_waiting_sats(merchant_id=pooled_shop.merchant.pk) == 150


def test_without_an_open_shift_the_tip_is_forwarded_per_sale(pooled_shop: PooledShop, sell: Sell) -> None:
    split = sell(base=1000, tip=100)

    assert split.pooled_amount == 0 and split.shift_id is None
    assert sorted(leg.kind for leg in split.legs.all()) == ["merchant", "tip"]


def test_close_pays_each_person_once_with_the_tip_out_first(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: kitchen tip-out 10 %, hours rule; servers 6 h and 2 h, kitchen 4 h; 1000 sats of tips
    rule = PoolRule.objects.create(merchant=pooled_shop.merchant, method="hours")
    TipOut.objects.create(rule=rule, role=pooled_shop.kitchen, percent_bps=1000)
    shift = work(pooled_shop, {0: 6, 1: 2, 2: 4})
    sell(base=2000, tip=600)
    sell(base=3000, tip=400)

    # when
    closed = close(pooled_shop, shift)
    outcomes = pay_all(closed)

    # then: kitchen 100; servers share 900 by 6:2
    amounts = {p.staff_id: p.amount_sats for p in PoolPayout.objects.filter(shift=shift)}
    s0, s1, s2 = pooled_shop.staff
    assert amounts == {s0.pk: 675, s1.pk: 225, s2.pk: 100}
    assert set(outcomes.values()) == {"succeeded"}
    assert [fake_blink.balance(s.wallet_id) for s in (s0, s1, s2)] == [675, 225, 100]
    shift.refresh_from_db()
    assert shift.status == ShiftStatus.SETTLED and shift.pool_sats == 1000
    assert pool_waiting_sats(merchant_id=pooled_shop.merchant.pk) == 0

    # and running the payouts again pays nobody twice
    assert set(pay_all(closed).values()) == {"succeeded"}
    assert [fake_blink.balance(s.wallet_id) for s in (s0, s1, s2)] == [675, 225, 100]


def test_closing_twice_concurrently_pays_once(fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell) -> None:
    # given
    shift = work(pooled_shop, {0: 1, 1: 1})
    sell(base=1000, tip=300)
    review = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)
    fingerprint, as_of = review.fingerprint, review.as_of.isoformat()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def confirm() -> None:
        try:
            barrier.wait()
            shift_close_confirm(
                merchant=pooled_shop.merchant,
                shift_id=shift.pk,
                fingerprint=fingerprint,
                as_of=as_of,
                by="merchant:test",
            )
            results.append("closed")
        except ShiftRefused as exc:
            results.append(exc.code)
        finally:
            connection.close()

    # when: two connections confirm at once
    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then: one close, one refusal; one payout per person
    assert sorted(results) == ["already_closed", "closed"]
    assert PoolPayout.objects.filter(shift=shift).count() == 2
    pay_all(shift)
    assert [fake_blink.balance(s.wallet_id) for s in pooled_shop.staff[:2]] == [150, 150]


def test_a_failed_payout_leaves_the_others_paid_and_is_retriable(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: a closed shift with two payouts
    shift = work(pooled_shop, {0: 1, 1: 1})
    sell(base=1000, tip=200)
    close(pooled_shop, shift)
    first, second = PoolPayout.objects.filter(shift=shift).order_by("pk")

    # when: the first payout's sends fail every time (confirmed by the ledger), the second's succeeds
    for _ in range(3):
        fake_blink.script("lnInvoicePaymentSend", ["FAILURE"])
        PoolPayout.objects.filter(pk=first.pk).update(next_attempt_at=None)  # its backoff is over
        assert pool_payout_run(payout_id=first.pk) in ("failed", "skipped")
    assert pool_payout_run(payout_id=second.pk) == "succeeded"

    # then: the failed one is failed for the merchant, the other paid, nothing debited for the failure
    first.refresh_from_db()
    assert first.status == PoolPayoutStatus.FAILED and first.failures == 3
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 0
    assert fake_blink.balance(pooled_shop.staff[1].wallet_id) == 100
    shift.refresh_from_db()
    assert shift.status == ShiftStatus.CLOSED
    assert ShiftEvent.objects.filter(payout=first, event_type="pool_payout_failed").count() == 1

    # and re-opened, it is paid once and the shift settles
    pool_payout_reopen(merchant=pooled_shop.merchant, payout_id=first.pk, by="merchant:test")
    assert pool_payout_run(payout_id=first.pk) == "succeeded"
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 100
    shift.refresh_from_db()
    assert shift.status == ShiftStatus.SETTLED


def test_an_unknown_send_is_looked_up_never_resent_blindly(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: a send that times out after Blink applied it
    shift = work(pooled_shop, {0: 1})
    sell(base=1000, tip=90)
    close(pooled_shop, shift)
    payout = PoolPayout.objects.get(shift=shift)
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY"])

    # when
    outcome = pool_payout_run(payout_id=payout.pk)
    payout.refresh_from_db()
    PoolPayout.objects.filter(pk=payout.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    swept = refunds_sweep()

    # then: unknown at first, then settled by the lookup, one debit
    assert outcome == "unknown" and payout.status == PoolPayoutStatus.UNKNOWN
    assert swept["pool_lookup_succeeded"] == 1
    payout.refresh_from_db()
    assert payout.status == PoolPayoutStatus.SUCCEEDED
    assert fake_blink.debits_for(payout.payment_hash or "") == 1
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 90


def test_corrections_recompute_before_close_and_are_refused_after(pooled_shop: PooledShop, sell: Sell) -> None:
    # given: 1 h each, 200 sats
    PoolRule.objects.create(merchant=pooled_shop.merchant, method="hours")
    shift = work(pooled_shop, {0: 1, 1: 1})
    sell(base=1000, tip=200)
    before = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)
    entry = shift.entries.get(staff=pooled_shop.staff[0])

    # when: the manager corrects the first person's clock-in to 3 h before clock-out
    assert entry.clock_out_at is not None
    clock_correct(
        merchant=pooled_shop.merchant,
        entry_id=entry.pk,
        clock_in_at=(entry.clock_out_at - timedelta(hours=3)).isoformat(),
        clock_out_at=entry.clock_out_at.isoformat(),
        reason="forgot to clock in",
        by="merchant:test",
    )
    after = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)

    # then: the preview follows (3:1), the correction is audited, the old review is stale
    assert [p.amount_sats for p in before.people] == [100, 100]
    assert [p.amount_sats for p in after.people] == [150, 50]
    correction = entry.corrections.get()
    assert correction.reason == "forgot to clock in" and correction.old_clock_in_at == entry.clock_in_at
    with pytest.raises(ShiftRefused) as stale:
        shift_close_confirm(
            merchant=pooled_shop.merchant,
            shift_id=shift.pk,
            fingerprint=before.fingerprint,
            as_of=before.as_of.isoformat(),
            by="merchant:test",
        )
    assert stale.value.code == "changed"

    # and after the close a correction is refused, nothing written
    close(pooled_shop, shift)
    with pytest.raises(ShiftRefused) as refused:
        clock_correct(
            merchant=pooled_shop.merchant,
            entry_id=entry.pk,
            clock_in_at=(entry.clock_out_at - timedelta(hours=5)).isoformat(),
            clock_out_at=entry.clock_out_at.isoformat(),
            reason="again",
            by="merchant:test",
        )
    assert refused.value.code == "shift_closed" and refused.value.http_status == 409
    assert entry.corrections.count() == 1


def test_a_refunded_tip_is_deducted_from_the_next_pool_share(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: staff 0 owes 30 sats from a refunded per-sale tip (the refund's own flow is tested with refunds)
    owed_split = PaymentSplitFactory(merchant=pooled_shop.merchant)
    refund = Refund.objects.create(
        split=owed_split,
        merchant=pooled_shop.merchant,
        requested_by="merchant:test",
        amount_sats=30,
        tip_refunded=True,
        tip_part_sats=30,
        base_part_sats=0,
        reason="refunded tip",
        status="cancelled",
        funding_payment_hash=owed_split.payment_hash[::-1],
        funding_external_id=owed_split.external_id + "f",
        funding_payment_request="lnbc",
        funding_expires_at=timezone.now(),
        claim_token=owed_split.payment_hash[:32],
        claim_k1=owed_split.payment_hash[32:],
    )
    TipAdjustment.objects.create(
        staff=pooled_shop.staff[0], kind=AdjustmentKind.REFUNDED_TIP, amount_sats=-30, refund=refund
    )
    shift = work(pooled_shop, {0: 1, 1: 1})
    sell(base=1000, tip=200)

    # when
    preview = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)
    close(pooled_shop, shift)
    pay_all(shift)

    # then: 100 - 30 to staff 0, 100 to staff 1, 30 back to the merchant who funded the refund
    assert [(p.share_sats, p.adjustment_sats, p.amount_sats) for p in preview.people] == [(100, 30, 70), (100, 0, 100)]
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 70
    assert fake_blink.balance(pooled_shop.staff[1].wallet_id) == 100
    back = PoolPayout.objects.get(shift=shift, staff__isnull=True)
    assert back.amount_sats == 30 and back.status == PoolPayoutStatus.SUCCEEDED
    assert TipAdjustment.objects.filter(staff=pooled_shop.staff[0], kind=AdjustmentKind.POOL_RECOVERY).count() == 1
    assert sum(TipAdjustment.objects.filter(staff=pooled_shop.staff[0]).values_list("amount_sats", flat=True)) == 0


def test_a_tip_paid_after_its_shift_closed_joins_the_next_close(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: a sale created during shift 1, paid after shift 1 closed
    first = work(pooled_shop, {0: 1})
    late = sell(base=1000, tip=80, forward=False)
    close(pooled_shop, first)

    assert forward_split(split_id=late.pk) == "completed"
    assert PoolAccrual.objects.get(split=late).shift_id is None

    # when: the next shift of the group closes
    second = work(pooled_shop, {1: 1})
    close(pooled_shop, second)
    pay_all(second)

    # then
    assert fake_blink.balance(pooled_shop.staff[1].wallet_id) == 80
    assert PoolAccrual.objects.get(split=late).shift_id == second.pk


def test_another_merchants_shift_is_not_found(pooled_shop: PooledShop) -> None:
    shift = work(pooled_shop, {0: 1})
    stranger = MerchantFactory()

    with pytest.raises(ShiftRefused) as refused:
        shift_close_preview(merchant=stranger, shift_id=shift.pk)

    assert refused.value.http_status == 404


def test_a_lost_task_and_a_send_that_never_reached_blink_are_resumed_by_the_sweep(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell
) -> None:
    # given: a closed shift whose payout task was lost (nothing ran)
    shift = work(pooled_shop, {0: 1})
    sell(base=1000, tip=70)
    close(pooled_shop, shift)
    payout = PoolPayout.objects.get(shift=shift)
    PoolPayout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT"])  # dropped before Blink executed it

    # when: the sweep finds it (the send's outcome is unknown), then looks it up
    first = refunds_sweep()
    payout.refresh_from_db()
    committed_hash = payout.payment_hash
    PoolPayout.objects.filter(pk=payout.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    second = refunds_sweep()
    resent = pool_payout_run(payout_id=payout.pk)

    # then: unknown at first, the lookup found no send and the SAME invoice was paid once
    assert first["pool_unknown"] == 1 and payout.status == PoolPayoutStatus.UNKNOWN
    assert second["pool_lookup_resend"] == 1
    assert resent == "succeeded"
    payout.refresh_from_db()
    assert payout.payment_hash == committed_hash and payout.attempts == 2
    assert fake_blink.debits_for(committed_hash or "") == 1
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 70
