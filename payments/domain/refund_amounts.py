"""Refund arithmetic: pure integer functions that conserve every satoshi (docs/ARCHITECTURE.md, money rule 6).

``refund_parts`` splits a refund into the part of the base and the part of the tip it returns; a refund
that does not return the tip takes everything from the base. ``proportional`` divides an amount over
weights (the staff's tip legs) by the largest-remainder method, ties to the first listed, as the sale's
own tip allocation does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RefundAmountError(ValueError):
    """The amount cannot be refunded from what is left of the sale. ``limit`` is the most that can."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True, kw_only=True)
class Remaining:
    """What is left to refund of a sale, in sats: its base and tip parts not yet refunded."""

    base: int
    tip: int

    @property
    def total(self) -> int:
        return self.base + self.tip


@dataclass(frozen=True, kw_only=True)
class RefundParts:
    base: int
    tip: int


def remaining(*, paid: int, tip_amount: int, refunded_base: int, refunded_tip: int) -> Remaining:
    """The sale received ``paid`` sats of which ``tip_amount`` were tip (the base is the rest)."""
    tip = min(tip_amount, paid)
    return Remaining(base=max(paid - tip - refunded_base, 0), tip=max(tip - refunded_tip, 0))


def max_refund(left: Remaining, *, tip_refunded: bool) -> int:
    return left.total if tip_refunded else left.base


def refund_parts(*, amount: int, tip_refunded: bool, left: Remaining, paid: int, tip_amount: int) -> RefundParts:
    """The base and tip parts of a refund of ``amount`` sats.

    With the tip: the tip's share of the sale (``amount * tip / paid``, rounded down) comes from the
    tip, the rest from the base, each capped by what is left of it (a full refund of what is left
    returns exactly the rest of both). Without: all from the base.
    """
    if amount <= 0:
        raise RefundAmountError(
            "the amount must be a positive number of sats", limit=max_refund(left, tip_refunded=tip_refunded)
        )
    limit = max_refund(left, tip_refunded=tip_refunded)
    if amount > limit:
        raise RefundAmountError(f"at most {limit} sats can still be refunded", limit=limit)
    if not tip_refunded:
        return RefundParts(base=amount, tip=0)
    tip = min(left.tip, amount * tip_amount // paid) if paid > 0 else 0
    if amount - tip > left.base:
        tip = amount - left.base
    return RefundParts(base=amount - tip, tip=tip)


def proportional(*, amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` divided over positive ``weights`` (largest remainder, ties to the earlier one);
    the parts sum to ``amount`` exactly."""
    total = sum(weights)
    if amount < 0 or total <= 0 or any(w < 0 for w in weights):
        raise ValueError("a non-negative amount over positive weights")
    exact = [amount * w for w in weights]
    parts = [value // total for value in exact]
    left_over = amount - sum(parts)
    for i in sorted(range(len(exact)), key=lambda i: (-(exact[i] % total), i))[:left_over]:
        parts[i] += 1
    return parts
