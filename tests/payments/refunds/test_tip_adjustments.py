"""A refunded tip is recovered from the staff's next tip payouts, never from their wallets: the
merchant's base leg of that later sale receives what is deducted, and every sale conserves."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakeblink import FakeBlink
from payments.models import AdjustmentKind, LegStatus, PaymentEvent, PaymentLeg, TipAdjustment
from payments.refund_selectors import staff_tip_balance, tip_adjustment_lines, tip_balances_to_recover
from payments.services.refund_payouts import refund_pay, refund_payout_commit
from payments.services.tip_adjustments import staff_owed
from tests.payments.refunds.conftest import MakeSale, Shop, funded_refund

pytestmark = pytest.mark.django_db


def _legs(split_id: int) -> list[PaymentLeg]:
    return list(PaymentLeg.objects.filter(split_id=split_id).order_by("pk"))


def _paid_tip_refund(fake: FakeBlink, split, customer: Callable[[int], str], **kwargs: object):
    refund = funded_refund(fake, split, tip=True, **kwargs)
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(refund.amount_sats), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    return refund


def test_a_refunded_tip_becomes_negative_lines_per_staff_share(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    # given a sale whose 150 sats tip went 100 / 50 to two staff, fully refunded with the tip
    split = make_sale(tips=(100, 50))
    staff_before = [fake_blink.balance(s.wallet_id) for s in shop.staff]

    # when the refund is paid
    refund = _paid_tip_refund(fake_blink, split, customer)

    # then each owes their share, nobody's wallet was touched
    assert refund.tip_part_sats == 150
    lines = {a.staff_id: a.amount_sats for a in TipAdjustment.objects.filter(refund=refund)}
    assert lines == {shop.staff[0].pk: -100, shop.staff[1].pk: -50}
    assert [fake_blink.balance(s.wallet_id) for s in shop.staff] == staff_before
    assert tip_balances_to_recover(merchant_id=shop.merchant.pk) == {shop.staff[0].pk: 100, shop.staff[1].pk: 50}


def test_a_partial_tip_refund_splits_its_tip_part_by_the_tip_legs(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    split = make_sale(base=1000, tips=(100, 50))
    refund = _paid_tip_refund(fake_blink, split, customer, amount=575)  # half the sale: 75 sats of tip

    lines = {a.staff_id: a.amount_sats for a in TipAdjustment.objects.filter(refund=refund)}
    assert refund.tip_part_sats == 75 and refund.base_part_sats == 500
    assert sum(lines.values()) == -75 and lines[shop.staff[0].pk] == -50


def test_the_adjustment_is_deducted_from_the_next_tip_payout_and_the_merchant_receives_it(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    # given staff 0 owes 100 and staff 1 owes 50 after a refunded tip
    first = make_sale(tips=(100, 50))
    _paid_tip_refund(fake_blink, first, customer)
    merchant_before = fake_blink.balance(shop.merchant.wallet_id)
    staff_before = [fake_blink.balance(s.wallet_id) for s in shop.staff]

    # when a later sale with tips of 60 and 80 is forwarded
    later = make_sale(base=500, tips=(60, 80))

    # then staff 0's 60 sats tip is recovered whole (their leg is gone), staff 1 gives 50 of 80, and the
    # merchant's base leg carries the 110 sats: the sale still conserves
    legs = _legs(later.pk)
    assert [(leg.kind, leg.staff_id, leg.amount) for leg in legs] == [
        ("merchant", None, 610),
        ("tip", shop.staff[1].pk, 30),
    ]
    assert all(leg.status == LegStatus.SUCCEEDED for leg in legs)
    assert sum(leg.amount for leg in legs) == later.received_amount == 640
    assert fake_blink.balance(shop.merchant.wallet_id) - merchant_before == 610
    assert [fake_blink.balance(s.wallet_id) - b for s, b in zip(shop.staff, staff_before, strict=True)] == [0, 30]
    recoveries = {a.staff_id: a.amount_sats for a in TipAdjustment.objects.filter(kind=AdjustmentKind.RECOVERY)}
    assert recoveries == {shop.staff[0].pk: 60, shop.staff[1].pk: 50}
    assert PaymentEvent.objects.filter(split_id=later.payment_hash, event_type="tip_recovered").count() == 2

    # and what is still to recover is what is left: 40 from staff 0, nothing from staff 1
    assert staff_tip_balance(staff=shop.staff[0]) == 40
    assert staff_tip_balance(staff=shop.staff[1]) == 0
    assert [line.amount_sats for line in tip_adjustment_lines(staff_id=shop.staff[0].pk)] == [-100, 60]

    # and a third sale recovers the last 40 and nothing more
    third = make_sale(base=500, tips=(100,))
    assert [(leg.kind, leg.amount) for leg in _legs(third.pk)] == [("merchant", 540), ("tip", 60)]
    assert staff_tip_balance(staff=shop.staff[0]) == 0


def test_a_refund_without_the_tip_leaves_the_staff_alone(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=1000)
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(1000), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"

    assert not TipAdjustment.objects.exists()
    later = make_sale(base=500, tips=(60, 80))
    assert [leg.amount for leg in _legs(later.pk)] == [500, 60, 80]


def test_staff_owed_answers_each_id_asked_in_ints_whatever_the_order_or_repeats(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    # given staff 0 owes 100 and staff 1 owes 50 (its SQL is compiled once per number of staff)
    _paid_tip_refund(fake_blink, make_sale(tips=(100, 50)), customer)
    first, second = shop.staff[0].pk, shop.staff[1].pk

    # then every id asked is answered, in plain ints (raw rows: PostgreSQL sums a bigint as numeric)
    owed = staff_owed([second, first, second])
    assert owed == {first: 100, second: 50}
    assert all(type(v) is int for v in owed.values())
    assert staff_owed([first]) == {first: 100}
    assert staff_owed([second, first]) == {first: 100, second: 50}  # the same compiled statement, reused
    assert staff_owed([]) == {}
