"""Refund arithmetic conserves every sat: parts sum to the amount, never above what is left."""

from __future__ import annotations

import pytest

from payments.domain.refund_amounts import RefundAmountError, proportional, refund_parts, remaining


@pytest.mark.parametrize("amount", [1, 2, 99, 500, 575, 1149, 1150])
def test_parts_sum_to_the_amount_and_stay_within_what_is_left(amount: int) -> None:
    left = remaining(paid=1150, tip_amount=150, refunded_base=0, refunded_tip=0)
    parts = refund_parts(amount=amount, tip_refunded=True, left=left, paid=1150, tip_amount=150)
    assert parts.base + parts.tip == amount
    assert 0 <= parts.tip <= 150 and 0 <= parts.base <= 1000


def test_the_last_refund_takes_exactly_what_is_left_of_both_parts() -> None:
    left = remaining(paid=1150, tip_amount=150, refunded_base=999, refunded_tip=100)
    parts = refund_parts(amount=51, tip_refunded=True, left=left, paid=1150, tip_amount=150)
    assert (parts.base, parts.tip) == (1, 50)


def test_without_the_tip_only_the_base_can_be_refunded() -> None:
    left = remaining(paid=1150, tip_amount=150, refunded_base=0, refunded_tip=0)
    assert refund_parts(amount=1000, tip_refunded=False, left=left, paid=1150, tip_amount=150).tip == 0
    with pytest.raises(RefundAmountError) as refused:
        refund_parts(amount=1001, tip_refunded=False, left=left, paid=1150, tip_amount=150)
    assert refused.value.limit == 1000


@pytest.mark.parametrize(("amount", "weights"), [(150, [100, 50]), (7, [1, 1, 1]), (0, [3]), (10, [5, 0, 5])])
def test_proportional_conserves(amount: int, weights: list[int]) -> None:
    parts = proportional(amount=amount, weights=weights)
    assert sum(parts) == amount and all(p >= 0 for p in parts)
