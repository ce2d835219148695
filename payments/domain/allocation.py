"""Split allocation: pure integer arithmetic that conserves every satoshi.

The merchant receives the base amount; the tip belongs to staff, so it is divided among the tip
shares alone by the largest-remainder method: each share first gets ``floor(tip * weight / 10 000)``,
then the sats those floors leave over (fewer than the number of shares) go one each to the shares with
the largest fractional remainders, ties going to the share listed first (the deterministic rule of
money rule 6 in docs/ARCHITECTURE.md). With no shares the whole tip goes to the merchant.
Allocations to the same recipient are merged (a merchant who also takes tips gets one transfer), and
zero amounts are dropped, so ``sum(amounts) == base + tip`` always holds and no leg is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

FULL_WEIGHT_BPS = 10_000


class AllocationError(ValueError):
    """The inputs cannot be allocated (negative amounts, weights not summing to 10 000, ...)."""


@dataclass(frozen=True, kw_only=True)
class TipShare:
    recipient: str  # the recipient's wallet id: two shares to one wallet become one transfer
    weight_bps: int


@dataclass(frozen=True, kw_only=True)
class Allocation:
    recipient: str
    amount: int  # sats
    is_merchant: bool
    weight_bps: int | None = None


def tip_from_percent(*, base_amount: int, percent: Decimal) -> int:
    """Tip in sats for ``percent`` of ``base_amount``, rounded half up to a whole sat."""
    if base_amount < 0:
        raise AllocationError("base_amount must not be negative")
    if not percent.is_finite() or percent < 0 or percent > 100:
        raise AllocationError("tip percent must be between 0 and 100")
    return int((Decimal(base_amount) * percent / Decimal(100)).to_integral_value(rounding=ROUND_HALF_UP))


def tip_amounts(*, tip_amount: int, tip_shares: Sequence[TipShare]) -> list[int]:
    """The tip divided among the shares (one amount per share, in order), summing exactly to the tip.

    Largest remainder: floors first, then one sat each to the shares with the largest remainder
    ``tip * weight mod 10 000``; equal remainders go to the earlier share. Weights are checked by
    ``allocate``.
    """
    exact = [tip_amount * share.weight_bps for share in tip_shares]
    amounts = [value // FULL_WEIGHT_BPS for value in exact]
    left_over = tip_amount - sum(amounts)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] % FULL_WEIGHT_BPS), i))
    for i in by_remainder[:left_over]:
        amounts[i] += 1
    return amounts


def allocate(*, base_amount: int, tip_amount: int, merchant: str, tip_shares: Sequence[TipShare]) -> list[Allocation]:
    """Allocate ``base_amount + tip_amount`` between the merchant and the tip shares.

    With no shares the whole tip goes to the merchant. The merchant's allocation comes first, then
    the shares in the order given (merged by recipient).
    """
    if base_amount < 0 or tip_amount < 0:
        raise AllocationError("amounts must not be negative")
    if base_amount + tip_amount <= 0:
        raise AllocationError("the total must be positive")
    if tip_shares:
        if any(s.weight_bps <= 0 for s in tip_shares):
            raise AllocationError("every tip share needs a positive weight")
        if sum(s.weight_bps for s in tip_shares) != FULL_WEIGHT_BPS:
            raise AllocationError("tip share weights must sum to 10000 basis points")

    amounts: dict[str, int] = {merchant: base_amount}
    weights: dict[str, int] = {}
    if not tip_shares:
        amounts[merchant] += tip_amount
    for share, amount in zip(tip_shares, tip_amounts(tip_amount=tip_amount, tip_shares=tip_shares), strict=True):
        amounts[share.recipient] = amounts.get(share.recipient, 0) + amount
        weights[share.recipient] = weights.get(share.recipient, 0) + share.weight_bps

    allocations = [
        Allocation(
            recipient=recipient,
            amount=amount,
            is_merchant=recipient == merchant,
            weight_bps=weights.get(recipient),
        )
        for recipient, amount in amounts.items()
        if amount > 0
    ]
    assert sum(a.amount for a in allocations) == base_amount + tip_amount  # conservation, by construction
    return allocations
