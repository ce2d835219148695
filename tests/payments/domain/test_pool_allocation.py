"""Pool allocation: every rule conserves the pool to the sat, pays nobody a negative amount, and gives
the same answer whatever order the members and tip-outs come in."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.pool_allocation import (
    METHODS,
    Member,
    PoolAllocationError,
    Share,
    TipOutRule,
    allocate_pool,
    deduct,
    divide,
)

ROLES = ["", "server", "bar", "kitchen"]
SATS = st.integers(min_value=0, max_value=2_100_000_000_000_000)


@st.composite
def members(draw: st.DrawFn, min_size: int = 1) -> list[Member]:
    keys = draw(st.lists(st.integers(min_value=1, max_value=10_000), min_size=min_size, max_size=12, unique=True))
    return [
        Member(
            key=key,
            seconds=draw(st.integers(min_value=0, max_value=24 * 3600)),
            role=draw(st.sampled_from(ROLES)),
            weight=draw(st.integers(min_value=1, max_value=1000)),
        )
        for key in keys
    ]


@st.composite
def tip_outs(draw: st.DrawFn) -> list[TipOutRule]:
    roles = draw(st.lists(st.sampled_from(ROLES[1:]), unique=True, max_size=3))
    budget = 10_000
    rules = []
    for role in roles:
        if budget < 1:
            break
        bps = draw(st.integers(min_value=1, max_value=budget))
        budget -= bps
        rules.append(TipOutRule(role=role, percent_bps=bps))
    return rules


@given(pool=SATS, crew=members(), method=st.sampled_from(METHODS), outs=tip_outs())
def test_every_rule_conserves_and_never_pays_negative(
    pool: int, crew: list[Member], method: str, outs: list[TipOutRule]
) -> None:
    shares = allocate_pool(pool_sats=pool, members=crew, method=method, tip_outs=outs)

    assert sum(s.amount for s in shares) == pool
    assert all(s.tip_out_sats >= 0 and s.pool_sats >= 0 for s in shares)
    assert sorted(s.key for s in shares) == sorted(m.key for m in crew)


@given(pool=SATS, crew=members(), method=st.sampled_from(METHODS), outs=tip_outs(), seed=st.integers())
def test_the_remainder_is_deterministic_whatever_the_order(
    pool: int, crew: list[Member], method: str, outs: list[TipOutRule], seed: int
) -> None:
    shuffled_crew, shuffled_outs = list(crew), list(outs)
    random.Random(seed).shuffle(shuffled_crew)
    random.Random(seed).shuffle(shuffled_outs)

    first = allocate_pool(pool_sats=pool, members=crew, method=method, tip_outs=outs)
    second = allocate_pool(pool_sats=pool, members=shuffled_crew, method=method, tip_outs=shuffled_outs)

    assert first == second


@given(amount=SATS, weights=st.dictionaries(st.integers(1, 100), st.integers(0, 10**6), min_size=1, max_size=10))
def test_divide_is_within_one_sat_of_the_exact_share(amount: int, weights: dict[int, int]) -> None:
    parts = divide(amount, weights)

    assert sum(parts.values()) == amount
    if not sum(weights.values()):  # all zero: equal shares
        weights = {key: 1 for key in weights}
    total = sum(weights.values())
    for key, part in parts.items():  # |part - amount * w / total| < 1, in integers
        assert abs(part * total - amount * weights[key]) < total


def test_hours_rule_shares_by_worked_time() -> None:
    # given: 8 h and 4 h
    crew = [Member(key=1, seconds=8 * 3600), Member(key=2, seconds=4 * 3600)]

    # when
    shares = allocate_pool(pool_sats=1000, members=crew, method="hours")

    # then: 2/3 and 1/3, the odd sat to the larger remainder (key 1: 666.67)
    assert [s.amount for s in shares] == [667, 333]


def test_role_weight_and_hours_x_role() -> None:
    crew = [
        Member(key=1, seconds=3600, role="server", weight=100),
        Member(key=2, seconds=7200, role="bar", weight=150),
    ]

    by_role = allocate_pool(pool_sats=500, members=crew, method="role")
    by_both = allocate_pool(pool_sats=400, members=crew, method="hours_role")

    assert [s.amount for s in by_role] == [200, 300]  # 100 : 150
    assert [s.amount for s in by_both] == [100, 300]  # 3600*100 : 7200*150


def test_tip_out_goes_first_to_its_role_only() -> None:
    # given: kitchen 10 % of 1000; the kitchen does not also share the servers' pool
    crew = [
        Member(key=1, seconds=3600, role="server"),
        Member(key=2, seconds=3600, role="server"),
        Member(key=3, seconds=3600, role="kitchen"),
    ]

    shares = allocate_pool(
        pool_sats=1000, members=crew, method="equal", tip_outs=[TipOutRule(role="kitchen", percent_bps=1000)]
    )

    assert shares == [
        Share(key=1, tip_out_sats=0, pool_sats=450),
        Share(key=2, tip_out_sats=0, pool_sats=450),
        Share(key=3, tip_out_sats=100, pool_sats=0),
    ]


def test_tip_out_of_an_absent_role_stays_in_the_pool() -> None:
    crew = [Member(key=1, seconds=60, role="server"), Member(key=2, seconds=60, role="server")]

    shares = allocate_pool(
        pool_sats=101, members=crew, method="hours", tip_outs=[TipOutRule(role="kitchen", percent_bps=5000)]
    )

    assert [s.amount for s in shares] == [51, 50]  # the odd sat to the smaller key


def test_hours_rule_with_no_time_falls_back_to_equal() -> None:
    crew = [Member(key=5, seconds=0), Member(key=9, seconds=0)]

    assert [s.amount for s in allocate_pool(pool_sats=3, members=crew, method="hours")] == [2, 1]


@pytest.mark.parametrize(
    ("pool", "crew", "method", "outs", "message"),
    [
        (-1, [Member(key=1, seconds=1)], "equal", [], "negative"),
        (10, [], "equal", [], "nobody"),
        (10, [Member(key=1, seconds=1)], "lottery", [], "unknown method"),
        (10, [Member(key=1, seconds=1), Member(key=1, seconds=2)], "equal", [], "each member once"),
        (10, [Member(key=1, seconds=-1)], "equal", [], "seconds"),
        (10, [Member(key=1, seconds=1, weight=0)], "equal", [], "weights"),
        (10, [Member(key=1, seconds=1)], "equal", [TipOutRule(role="a", percent_bps=0)], "basis points"),
        (
            10,
            [Member(key=1, seconds=1)],
            "equal",
            [TipOutRule(role="a", percent_bps=6000), TipOutRule(role="b", percent_bps=5000)],
            "more than the pool",
        ),
    ],
)
def test_bad_inputs_are_refused(
    pool: int, crew: list[Member], method: str, outs: list[TipOutRule], message: str
) -> None:
    with pytest.raises(PoolAllocationError, match=message):
        allocate_pool(pool_sats=pool, members=crew, method=method, tip_outs=outs)


def test_an_empty_pool_with_nobody_is_fine() -> None:
    assert allocate_pool(pool_sats=0, members=[], method="equal") == []


@given(share=SATS, owed=SATS)
def test_deduction_never_exceeds_the_share_nor_goes_negative(share: int, owed: int) -> None:
    taken = deduct(share_sats=share, owed_sats=owed)

    assert 0 <= taken <= share
    assert taken == min(share, owed)
