"""Split allocation conserves every satoshi, for any amounts, weights and recipient collisions."""

from __future__ import annotations

import itertools
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from payments.domain.allocation import (
    FULL_WEIGHT_BPS,
    Allocation,
    AllocationError,
    TipShare,
    allocate,
    tip_amounts,
    tip_from_percent,
)

MERCHANT = "wallet-merchant"
# A small pool makes collisions likely: two shares to one wallet, or a share to the merchant itself.
RECIPIENTS = st.sampled_from([MERCHANT, "wallet-alice", "wallet-bob", "wallet-carol"])
SATS = st.integers(min_value=0, max_value=2_100_000_000_000_000)  # up to 21 M BTC


@st.composite
def weights_summing_to_full(draw: st.DrawFn) -> list[int]:
    """A random partition of 10 000 basis points into 1..10 positive parts."""
    parts = draw(st.integers(min_value=1, max_value=10))
    cuts = draw(
        st.lists(
            st.integers(min_value=1, max_value=FULL_WEIGHT_BPS - 1),
            min_size=parts - 1,
            max_size=parts - 1,
            unique=True,
        )
    )
    bounds = [0, *sorted(cuts), FULL_WEIGHT_BPS]
    return [high - low for low, high in itertools.pairwise(bounds)]


@st.composite
def tip_shares(draw: st.DrawFn) -> list[TipShare]:
    weights = draw(weights_summing_to_full())
    return [TipShare(recipient=draw(RECIPIENTS), weight_bps=w) for w in weights]


@st.composite
def amounts(draw: st.DrawFn) -> tuple[int, int]:
    base, tip = draw(SATS), draw(SATS)
    if base + tip == 0:
        base = draw(st.integers(min_value=1, max_value=1_000))
    return base, tip


def _expected(base: int, tip: int, shares: list[TipShare]) -> dict[str, int]:
    """The rule, written independently: the merchant gets the base; each share floor(tip * w / 10 000);
    the sats the floors leave over go one each to the shares with the largest remainder (earlier share
    first on a tie); merged by recipient; zero amounts dropped. No shares: the tip is the merchant's."""
    per_recipient: dict[str, int] = {MERCHANT: base}
    if not shares:
        per_recipient[MERCHANT] = base + tip
    floors = [(tip * s.weight_bps) // FULL_WEIGHT_BPS for s in shares]
    remainders = [(tip * s.weight_bps) % FULL_WEIGHT_BPS for s in shares]
    left_over = tip - sum(floors) if shares else 0
    for _ in range(left_over):
        best = max(range(len(shares)), key=lambda i: (remainders[i], -i))
        floors[best] += 1
        remainders[best] = -1  # at most one extra sat per share
    for share, amount in zip(shares, floors, strict=True):
        per_recipient[share.recipient] = per_recipient.get(share.recipient, 0) + amount
    return {r: a for r, a in per_recipient.items() if a > 0}


@given(amounts=amounts(), shares=st.one_of(st.just([]), tip_shares()))
@example(amounts=(0, 1), shares=[TipShare(recipient="wallet-alice", weight_bps=10_000)])
@example(
    amounts=(1_000, 7),
    shares=[
        TipShare(recipient="wallet-alice", weight_bps=3_334),
        TipShare(recipient="wallet-bob", weight_bps=3_333),
        TipShare(recipient="wallet-alice", weight_bps=3_333),
    ],
)
@example(amounts=(0, 9_999), shares=[TipShare(recipient=MERCHANT, weight_bps=5_000)] * 2)
def test_allocation_conserves_and_follows_the_rule(amounts: tuple[int, int], shares: list[TipShare]) -> None:
    base, tip = amounts

    allocations = allocate(base_amount=base, tip_amount=tip, merchant=MERCHANT, tip_shares=shares)

    # conservation: every satoshi received is forwarded, exactly once
    assert sum(a.amount for a in allocations) == base + tip
    # no empty leg (a 0-sat transfer would violate leg_amount_positive)
    assert all(a.amount > 0 for a in allocations)
    # one allocation per recipient (the leg table is unique per (split, recipient))
    recipients = [a.recipient for a in allocations]
    assert len(recipients) == len(set(recipients))
    # the merchant gets the base, the shares the tip by largest remainder, merged
    assert {a.recipient: a.amount for a in allocations} == _expected(base, tip, shares)
    # the merchant's allocation (if any) comes first and is the only one flagged
    assert [a.is_merchant for a in allocations] == [a.recipient == MERCHANT for a in allocations]
    if any(a.is_merchant for a in allocations):
        assert allocations[0].is_merchant
    # merged weights are kept for the tip recipients
    for allocation in allocations:
        share_weight = sum(s.weight_bps for s in shares if s.recipient == allocation.recipient)
        assert allocation.weight_bps == (share_weight or None)
    # deterministic: same inputs, same allocation, same order
    assert allocate(base_amount=base, tip_amount=tip, merchant=MERCHANT, tip_shares=list(shares)) == allocations


@given(amounts=amounts(), shares=tip_shares())
@example(
    amounts=(1_250, 125),
    shares=[
        TipShare(recipient="wallet-alice", weight_bps=5_000),
        TipShare(recipient="wallet-bob", weight_bps=3_000),
        TipShare(recipient="wallet-carol", weight_bps=2_000),
    ],
)
def test_the_tip_goes_to_the_tip_shares_and_the_base_to_the_merchant(
    amounts: tuple[int, int], shares: list[TipShare]
) -> None:
    base, tip = amounts

    per_share = tip_amounts(tip_amount=tip, tip_shares=shares)
    allocations = {
        a.recipient: a.amount for a in allocate(base_amount=base, tip_amount=tip, merchant=MERCHANT, tip_shares=shares)
    }

    # the tip shares sum exactly to the tip: no rounding remainder leaves the staff
    assert sum(per_share) == tip
    # each share is its exact fraction of the tip, rounded down or up by less than one sat
    for share, amount in zip(shares, per_share, strict=True):
        assert abs(amount * FULL_WEIGHT_BPS - tip * share.weight_bps) < FULL_WEIGHT_BPS
    # the merchant gets exactly the base (plus only what a share to the merchant's own wallet carries)
    merchant_tips = sum(a for s, a in zip(shares, per_share, strict=True) if s.recipient == MERCHANT)
    assert allocations.get(MERCHANT, 0) == base + merchant_tips


def test_a_125_sat_tip_split_50_30_20_pays_staff_all_125() -> None:
    # given the example: 1 250 + 125 sats, the tip split 50/30/20
    shares = [
        TipShare(recipient="wallet-alice", weight_bps=5_000),
        TipShare(recipient="wallet-bob", weight_bps=3_000),
        TipShare(recipient="wallet-carol", weight_bps=2_000),
    ]

    # when it is allocated
    allocations = allocate(base_amount=1_250, tip_amount=125, merchant=MERCHANT, tip_shares=shares)

    # then 62.5 / 37.5 / 25 become 63 / 37 / 25 (the tie on .5 goes to the share listed first) and the
    # merchant gets the base only
    assert [(a.recipient, a.amount) for a in allocations] == [
        (MERCHANT, 1_250),
        ("wallet-alice", 63),
        ("wallet-bob", 37),
        ("wallet-carol", 25),
    ]


def test_the_order_of_shares_is_preserved_after_the_merchant() -> None:
    shares = [
        TipShare(recipient="wallet-carol", weight_bps=2_000),
        TipShare(recipient="wallet-alice", weight_bps=5_000),
        TipShare(recipient="wallet-carol", weight_bps=3_000),
    ]
    allocations = allocate(base_amount=1_000, tip_amount=101, merchant=MERCHANT, tip_shares=shares)
    # 20.2 + 50.5 + 30.3: the one sat the floors leave goes to alice (largest remainder)
    assert allocations == [
        Allocation(recipient=MERCHANT, amount=1_000, is_merchant=True, weight_bps=None),
        Allocation(recipient="wallet-carol", amount=50, is_merchant=False, weight_bps=5_000),
        Allocation(recipient="wallet-alice", amount=51, is_merchant=False, weight_bps=5_000),
    ]


def test_a_zero_tip_goes_nowhere_and_creates_no_tip_legs() -> None:
    shares = [TipShare(recipient="wallet-alice", weight_bps=10_000)]
    allocations = allocate(base_amount=500, tip_amount=0, merchant=MERCHANT, tip_shares=shares)
    assert allocations == [Allocation(recipient=MERCHANT, amount=500, is_merchant=True)]


@pytest.mark.parametrize(
    "weights",
    [[9_999], [10_001], [5_000, 4_999], [5_000, 5_001], [0, 10_000], [-1, 10_001], [3_333, 3_333, 3_333]],
)
def test_weights_not_summing_to_10000_or_not_positive_are_refused(weights: list[int]) -> None:
    shares = [TipShare(recipient=f"wallet-{i}", weight_bps=w) for i, w in enumerate(weights)]
    with pytest.raises(AllocationError):
        allocate(base_amount=1_000, tip_amount=100, merchant=MERCHANT, tip_shares=shares)


@pytest.mark.parametrize(("base", "tip"), [(-1, 100), (100, -1), (-5, -5), (-100, 101)])
def test_negative_amounts_are_refused(base: int, tip: int) -> None:
    with pytest.raises(AllocationError, match="negative"):
        allocate(base_amount=base, tip_amount=tip, merchant=MERCHANT, tip_shares=[])


def test_a_zero_total_is_refused() -> None:
    with pytest.raises(AllocationError, match="positive"):
        allocate(base_amount=0, tip_amount=0, merchant=MERCHANT, tip_shares=[])


# --- tip_from_percent ----------------------------------------------------------------------------


@given(base=SATS, percent=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False))
@example(base=1, percent=Decimal("50"))  # 0.5 → 1 (half up, not banker's 0)
@example(base=3, percent=Decimal("50"))  # 1.5 → 2
@example(base=5, percent=Decimal("10"))  # 0.5 → 1
@example(base=999, percent=Decimal("0.05"))  # 0.4995 → 0
@example(base=1_000, percent=Decimal("0.05"))  # 0.5 → 1
@example(base=2_100_000_000_000_000, percent=Decimal("99.99"))
def test_tip_from_percent_rounds_half_up(base: int, percent: Decimal) -> None:
    hundredths = int(percent * 100)  # exact: two decimal places
    # tip = base * hundredths / 10 000, rounded half up, in integer arithmetic
    expected = (base * hundredths * 2 + 10_000) // 20_000

    tip = tip_from_percent(base_amount=base, percent=percent)

    assert tip == expected
    assert isinstance(tip, int)
    assert 0 <= tip <= base
    assert tip == int((Decimal(base) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("base", "percent", "expected"),
    [(0, "15", 0), (1_000, "0", 0), (1_000, "100", 1_000), (1_000, "15", 150), (23, "10", 2), (25, "10", 3)],
)
def test_tip_from_percent_examples(base: int, percent: str, expected: int) -> None:
    assert tip_from_percent(base_amount=base, percent=Decimal(percent)) == expected


@pytest.mark.parametrize("percent", ["NaN", "sNaN", "Infinity", "-Infinity", "-0.01", "-1", "100.01", "101", "1E+3"])
def test_tip_from_percent_rejects_out_of_range(percent: str) -> None:
    with pytest.raises(AllocationError, match="between 0 and 100"):
        tip_from_percent(base_amount=1_000, percent=Decimal(percent))


def test_tip_from_percent_rejects_a_negative_base() -> None:
    with pytest.raises(AllocationError, match="negative"):
        tip_from_percent(base_amount=-1, percent=Decimal("10"))
