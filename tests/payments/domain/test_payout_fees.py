"""The platform never pays out more than a split received, whatever the amounts and fees (property)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain import payout_fees as pf

shares = st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(
    base=st.integers(min_value=1, max_value=10_000_000),
    tips=shares,
    fee_ppm=st.integers(min_value=0, max_value=50_000),
    fee_base=st.integers(min_value=0, max_value=20),
    charged_fraction=st.floats(min_value=0.0, max_value=1.0),
    absorbs=st.booleans(),
)
def test_what_leaves_never_exceeds_what_was_received(
    base: int, tips: list[int], fee_ppm: int, fee_base: int, charged_fraction: float, absorbs: bool
) -> None:
    received = base + sum(tips)

    def estimate(amount: int) -> int:  # Blink charges at most the probed fee, monotonic in the amount
        return fee_base + -(-amount * fee_ppm // 1_000_000)

    payouts: list[tuple[int, int]] = []
    owed: list[pf.LegFee] = []
    for share in tips:
        est = estimate(share)
        payer = pf.RECIPIENT
        if absorbs and pf.absorb_fits(base_sats=base, already=pf.absorbed(owed), estimate_sats=est):
            payer = pf.MERCHANT
        amount = pf.invoice_amount(share_sats=share, estimate_sats=est, payer=payer)
        if amount <= est:
            continue  # refused (SHARE_BELOW_FEE): nothing leaves
        committed_est = estimate(amount)  # the planner probes the committed invoice again
        if amount + committed_est > share and payer == pf.RECIPIENT:
            continue  # refused (FEE_ESTIMATE_ROSE)
        charged = int(committed_est * charged_fraction) if payer == pf.RECIPIENT else int(est * charged_fraction)
        payouts.append((amount, charged))
        owed.append(pf.LegFee(payer=payer, estimate=est, charged=charged, reimbursed=0))
    # the base leg: planned last, minus what it absorbed, minus its own fee when it pays one
    base_share = base - pf.absorbed(owed)
    assert base_share >= base - base // pf.ABSORB_BASE_FRACTION_DEN
    base_est = estimate(base_share)
    base_amount = base_share - base_est
    if base_amount > base_est:
        payouts.append((base_amount, int(estimate(base_amount) * charged_fraction)))
    assert pf.platform_outflow(payouts) <= received


def test_the_cap_is_the_larger_of_its_flat_and_percentage_parts() -> None:
    assert pf.fee_cap(share_sats=1000, cap_bps=100, cap_sats=10) == 10
    assert pf.fee_cap(share_sats=100_000, cap_bps=100, cap_sats=10) == 1000
