"""Properties of the payroll arithmetic, without the database: a row's columns add up whatever lines it
gets, display amounts are each line's own conversion, and a shift's tip-outs given equal those received."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.payout_lines import PAID, PENDING, RESOLVED, PayoutLine, tip_outs_given, to_display
from analytics.payroll import PayrollRow
from payments.models import PoolAllocation

# No deadline: the machine is shared, and timing is not what these tests are about.
PROPERTY = settings(database=None, max_examples=200, deadline=None)
rates = st.one_of(st.none(), st.decimals(min_value=Decimal("1"), max_value=Decimal("100000"), places=8))
lines = st.builds(
    lambda sats, standing, rate, kind: PayoutLine(
        kind=kind,
        object_id=1,
        staff_id=1,
        staff_name="x",
        earned_at=None,
        reference="r",
        amount_sats=sats,
        status="s",
        standing=standing,
        sats_per_unit=rate,
        display_amount=to_display(sats, rate),
    ),
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from([PAID, RESOLVED, PENDING]),
    rates,
    st.sampled_from(["sale_tip", "pool_share"]),
)


@PROPERTY
@given(st.lists(lines, max_size=30))
def test_a_rows_columns_add_up(batch: list[PayoutLine]) -> None:
    row = PayrollRow(staff_id=1, staff_name="x", payout_destination="")
    for line in batch:
        row.add(line)
    assert row.tips_earned_sats == row.paid_out_sats + row.resolved_sats + row.pending_sats
    assert row.tips_earned_sats == row.sale_tips_sats + row.pool_shares_sats
    assert row.paid_out_sats == sum(x.amount_sats for x in batch if x.standing == PAID)
    converted = [x for x in batch if x.display_amount is not None]
    assert row.earned_display == sum((x.display_amount for x in converted), Decimal("0.00"))  # type: ignore[misc]
    assert row.unconverted_sats == sum(x.amount_sats for x in batch if x.display_amount is None)
    resolved_display = sum((x.display_amount for x in converted if x.standing == RESOLVED), Decimal(0))  # type: ignore[misc]
    assert row.earned_display == row.paid_out_display + row.pending_display + resolved_display


@PROPERTY
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**8), st.integers(min_value=0, max_value=10**6)),
        min_size=1,
        max_size=12,
    )
)
def testtip_outs_given_equal_those_received(people: list[tuple[int, int]]) -> None:
    allocations = [
        PoolAllocation(pk=i + 1, shift_id=7, staff_id=i + 1, share_sats=part + tip_out, tip_out_sats=tip_out)
        for i, (part, tip_out) in enumerate(people)
    ]
    given_out = tip_outs_given(allocations)
    received = sum(tip_out for _, tip_out in people)
    parts = sum(part for part, _ in people)
    assert all(v >= 0 for v in given_out.values())
    assert sum(given_out.values()) == (received if parts > 0 else 0)
