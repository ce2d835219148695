"""Sharing a shift's tip pool: pure integer arithmetic that conserves every satoshi.

1. Tip-outs first: each tip-out takes ``floor(pool * percent_bps / 10 000)`` for the members of its
   role and shares it among them. A tip-out whose role has nobody on the shift takes nothing (its
   sats stay in the pool). Tip-outs are applied in role-name order.
2. The rest of the pool is shared among the members whose role takes no tip-out (a kitchen paid by its
   tip-out does not also share the servers' pool); when every member's role takes a tip-out, among all.
3. Every division uses the rule's weights: equal (1 each), hours (worked seconds), role (the role's
   weight), hours x role (seconds x weight). When all weights of a division are 0 (nobody clocked any
   time under an hours rule) it falls back to equal shares rather than leaving sats unallocated.
4. Largest remainder: floors first, then the sats left over (fewer than the members) go one each to
   the largest fractional remainders, ties to the smaller member key. The result depends only on the
   inputs as a set, never on their order.

So ``sum(share.amount) == pool`` always, nobody gets a negative amount, and each member's amount is
within one sat of their exact proportional part (per division).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FULL_BPS = 10_000
METHODS = ("equal", "hours", "role", "hours_role")


class PoolAllocationError(ValueError):
    """The inputs cannot be allocated (negative pool, unknown method, tip-outs above 100 %, ...)."""


@dataclass(frozen=True, kw_only=True)
class Member:
    key: int  # the staff id: unique, and the tie-breaker of the remainder
    seconds: int  # worked seconds, >= 0
    role: str = ""  # role name; "" no role
    weight: int = 100  # the role's weight in hundredths (100 = 1x), > 0


@dataclass(frozen=True, kw_only=True)
class TipOutRule:
    role: str
    percent_bps: int


@dataclass(frozen=True, kw_only=True)
class Share:
    key: int
    tip_out_sats: int  # sats received from tip-outs
    pool_sats: int  # sats received from the rest of the pool

    @property
    def amount(self) -> int:
        return self.tip_out_sats + self.pool_sats


def _weight(member: Member, method: str) -> int:
    if method == "equal":
        return 1
    if method == "hours":
        return member.seconds
    if method == "role":
        return member.weight
    return member.seconds * member.weight


def divide(amount: int, weights: dict[int, int]) -> dict[int, int]:
    """``amount`` divided by ``weights`` (key -> weight >= 0) by largest remainder; all-zero weights:
    equal shares. Sums exactly to ``amount``."""
    if amount < 0:
        raise PoolAllocationError("amount must not be negative")
    if not weights:
        if amount:
            raise PoolAllocationError("nobody to share with")
        return {}
    keys = sorted(weights)
    if any(weights[k] < 0 for k in keys):
        raise PoolAllocationError("weights must not be negative")
    total = sum(weights[k] for k in keys)
    if total == 0:
        weights, total = {k: 1 for k in keys}, len(keys)
    exact = {k: amount * weights[k] for k in keys}
    parts = {k: exact[k] // total for k in keys}
    left_over = amount - sum(parts.values())
    for k in sorted(keys, key=lambda k: (-(exact[k] % total), k))[:left_over]:
        parts[k] += 1
    return parts


def validate(*, pool_sats: int, members: Sequence[Member], method: str, tip_outs: Sequence[TipOutRule]) -> None:
    if pool_sats < 0:
        raise PoolAllocationError("the pool must not be negative")
    if method not in METHODS:
        raise PoolAllocationError(f"unknown method {method!r}")
    if len({m.key for m in members}) != len(members):
        raise PoolAllocationError("each member once")
    if any(m.seconds < 0 or m.weight <= 0 for m in members):
        raise PoolAllocationError("seconds must not be negative and weights must be positive")
    if len({t.role for t in tip_outs}) != len(tip_outs):
        raise PoolAllocationError("one tip-out per role")
    if any(not 0 < t.percent_bps <= FULL_BPS for t in tip_outs):
        raise PoolAllocationError("a tip-out is between 1 and 10000 basis points")
    if sum(t.percent_bps for t in tip_outs) > FULL_BPS:
        raise PoolAllocationError("tip-outs add up to more than the pool")
    if pool_sats > 0 and not members:
        raise PoolAllocationError("nobody worked this shift")


def allocate_pool(
    *, pool_sats: int, members: Sequence[Member], method: str, tip_outs: Sequence[TipOutRule] = ()
) -> list[Share]:
    """Each member's share of ``pool_sats`` (see the module docstring), ordered by key."""
    validate(pool_sats=pool_sats, members=members, method=method, tip_outs=tip_outs)
    tip_out_parts: dict[int, int] = {m.key: 0 for m in members}
    left = pool_sats
    tipped_roles: set[str] = set()
    for rule in sorted(tip_outs, key=lambda t: t.role):
        crew = [m for m in members if m.role == rule.role]
        if not crew:
            continue
        tipped_roles.add(rule.role)
        taken = pool_sats * rule.percent_bps // FULL_BPS
        left -= taken
        for key, part in divide(taken, {m.key: _weight(m, method) for m in crew}).items():
            tip_out_parts[key] += part
    floor = [m for m in members if m.role not in tipped_roles] or list(members)
    pool_parts = divide(left, {m.key: _weight(m, method) for m in floor})
    shares = [
        Share(key=m.key, tip_out_sats=tip_out_parts[m.key], pool_sats=pool_parts.get(m.key, 0))
        for m in sorted(members, key=lambda m: m.key)
    ]
    assert sum(s.amount for s in shares) == pool_sats  # conservation, by construction
    return shares


def deduct(*, share_sats: int, owed_sats: int) -> int:
    """What a refunded-tip debt takes out of one share: at most the share, never below zero."""
    if share_sats < 0 or owed_sats < 0:
        raise PoolAllocationError("amounts must not be negative")
    return min(share_sats, owed_sats)
