"""A refunded tip of a pooled sale: taken out of its open shift's pool and paid back to the merchant who
funded the refund, or, once the shift paid out, owed by the people it paid and deducted from their next
pool share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakeblink import FakeBlink
from payments.models import AdjustmentKind, PaymentSplit, PoolPayout, PoolRule, TipAdjustment
from payments.services.refund_payouts import refund_pay, refund_payout_commit
from payments.services.tip_adjustments import staff_owed
from tests.payments.refunds.conftest import customer, funded_refund  # noqa: F401
from tests.payments.shifts.conftest import PooledShop, Sell, work
from tests.payments.shifts.test_pooled_flow import close, pay_all

pytestmark = pytest.mark.django_db(transaction=True)


def refund_tip(fake: FakeBlink, split: PaymentSplit, pay_to: Callable[[int], str], amount: int) -> None:
    refund = funded_refund(fake, split, amount=amount, tip=True)
    assert refund.tip_part_sats > 0
    refund_payout_commit(refund_id=refund.pk, payment_request=pay_to(refund.amount_sats), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"


def test_a_tip_refunded_during_the_shift_leaves_the_pool(
    fake_blink: FakeBlink,
    pooled_shop: PooledShop,
    sell: Sell,
    customer: Callable[[int], str],  # noqa: F811
) -> None:
    # given: two equal shares of 400 pooled sats, one sale (tip 100) refunded in full
    PoolRule.objects.create(merchant=pooled_shop.merchant, method="equal")
    shift = work(pooled_shop, {0: 1, 1: 1})
    refunded = sell(base=1000, tip=100)
    sell(base=1000, tip=300)
    refund_tip(fake_blink, refunded, customer, amount=1100)
    merchant_before = fake_blink.balance(pooled_shop.merchant.wallet_id)

    # when
    closed = close(pooled_shop, shift)
    pay_all(closed)

    # then: 300 shared, 100 back to the merchant, nobody owes anything
    assert [fake_blink.balance(s.wallet_id) for s in pooled_shop.staff[:2]] == [150, 150]
    back = PoolPayout.objects.get(shift=shift, staff__isnull=True)
    assert back.amount_sats == 100
    assert fake_blink.balance(pooled_shop.merchant.wallet_id) == merchant_before + 100
    assert staff_owed([s.pk for s in pooled_shop.staff]) == {s.pk: 0 for s in pooled_shop.staff}


def test_a_tip_refunded_after_the_close_is_deducted_from_the_next_share(
    fake_blink: FakeBlink,
    pooled_shop: PooledShop,
    sell: Sell,
    customer: Callable[[int], str],  # noqa: F811
) -> None:
    # given: a closed and paid shift (200 sats by 1:1), then its sale's tip refunded
    PoolRule.objects.create(merchant=pooled_shop.merchant, method="equal")
    first = work(pooled_shop, {0: 1, 1: 1})
    split = sell(base=1000, tip=200)
    pay_all(close(pooled_shop, first))
    refund_tip(fake_blink, split, customer, amount=1200)

    # when: the next shift, with staff 0 only
    owed = staff_owed([pooled_shop.staff[0].pk, pooled_shop.staff[1].pk])
    second = work(pooled_shop, {0: 1})
    sell(base=1000, tip=500)
    pay_all(close(pooled_shop, second))

    # then: each owed 100; staff 0's next share pays it back to the merchant
    assert list(owed.values()) == [100, 100]
    assert fake_blink.balance(pooled_shop.staff[0].wallet_id) == 100 + 400
    lines = TipAdjustment.objects.filter(staff=pooled_shop.staff[0]).order_by("pk")
    assert [(x.kind, x.amount_sats) for x in lines] == [
        (AdjustmentKind.REFUNDED_TIP, -100),
        (AdjustmentKind.POOL_RECOVERY, 100),
    ]
    assert PoolPayout.objects.get(shift=second, staff__isnull=True).amount_sats == 100
