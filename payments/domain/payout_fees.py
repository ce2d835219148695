"""Routing fees of Lightning-address payouts, as arithmetic (no I/O): who pays, how much the payout
invoice asks for, the cap, and the merchant's absorption budget (README "Payout destinations", fees).

The rule behind every function here: what leaves the platform wallet for a split (each payout
invoice's amount plus the fee Blink charges for it, less what Blink gives back) never exceeds what the
split received. Blink charges the fee its probe estimated for an outside payment up front and returns
the unused part (payments/wallet/mapping.py, payment lookup; modelled by fakeblink/external.py), and the
planner probes the very invoice it commits, so "charged <= estimate" holds for every committed invoice
as long as Blink's estimate does not rise between the probe and the send (seconds apart); with that,
the amounts below keep the rule:

- recipient pays: the invoice asks for ``share - estimate``; debit ``share - estimate + fee <= share``;
- merchant absorbs: a tip invoice asks for the whole share, its fee is taken out of the base leg, which
  is planned only after every other leg is done (its invoice asks for ``base - absorbed``); a tip leg
  reserves its estimate against at most half of the base, the rest is left for the base's own fee.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

RECIPIENT = "recipient"
MERCHANT = "merchant"
# The share of the base that absorbed tip fees may use; the rest covers the base leg's own fee.
ABSORB_BASE_FRACTION_DEN = 2


def fee_cap(*, share_sats: int, cap_bps: int, cap_sats: int) -> int:
    """The largest fee a share may pay without an operator: the larger of a flat allowance (small
    shares pay a base fee that no percentage covers) and a percentage of the share."""
    return max(cap_sats, share_sats * cap_bps // 10_000)


def invoice_amount(*, share_sats: int, estimate_sats: int, payer: str) -> int:
    """Sats the payout invoice asks for: the share less the fee when the recipient pays it."""
    return share_sats - estimate_sats if payer == RECIPIENT else share_sats


@dataclass(frozen=True, kw_only=True)
class LegFee:
    """A sibling leg's fee as the base leg sees it: ``charged`` (None until known) less ``reimbursed``;
    until a fee is known its estimate is reserved."""

    payer: str
    estimate: int | None
    charged: int | None
    reimbursed: int | None

    @property
    def owed(self) -> int:
        if self.payer != MERCHANT:
            return 0
        if self.charged is not None:
            return max(0, self.charged - (self.reimbursed or 0))
        return self.estimate or 0


def absorbed(fees: Iterable[LegFee]) -> int:
    """What the merchant owes for its tip legs' fees (reserved estimates until the fee is known)."""
    return sum(f.owed for f in fees)


def absorb_fits(*, base_sats: int, already: int, estimate_sats: int) -> bool:
    """Whether one more tip fee can come out of the base without exceeding its absorption budget."""
    return already + estimate_sats <= base_sats // ABSORB_BASE_FRACTION_DEN


def platform_outflow(payouts: Iterable[tuple[int, int]]) -> int:
    """Total debit for (invoice sats, net fee) pairs: checked against the split's received amount."""
    return sum(amount + fee for amount, fee in payouts)
