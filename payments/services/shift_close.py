"""Closing a shift: the allocation preview, and the confirmation that pays each person once
(docs/ARCHITECTURE.md, Shifts and pooled tips).

``shift_close_preview`` reads only: hours per person (an entry still open counts up to now), the pool
(accruals of this shift plus the group's carry-over), the rule (the group's, else the merchant's
default, else hours with no tip-out), each share (``payments.domain.pool_allocation``) and what each
person's refunded-tip debt takes out of it. Its ``fingerprint`` covers everything the amounts depend
on except the clock of still-open entries.

``shift_close_confirm`` does the same under the shift's row lock, in one transaction, with one
conditional change ``open -> closed``: a second confirmation (concurrent or later) finds the shift
closed and is refused (409), so nobody is allocated twice. It clocks out whoever is still clocked in,
sweeps the carry-over in, writes one ``PoolAllocation`` per person, one ``pool_recovery`` tip
adjustment per deduction, and one ``PoolPayout`` per person with something to receive (plus one back
to the merchant for the deductions, who funded the refunds). The payouts are enqueued after commit
(``payments.services.pool_payouts``). A fingerprint that no longer matches (a sale paid or a time
corrected since the review) is refused with 409: the merchant reviews again.

Lock order: the shift row, then staff rows in pk order (the same order as tip recoveries).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from blinkpos.logging import get_logger
from payments.domain.pool_allocation import Member, PoolAllocationError, TipOutRule, allocate_pool, deduct
from payments.models import (
    AdjustmentKind,
    ClockEntry,
    Merchant,
    PoolAccrual,
    PoolAllocation,
    PoolMethod,
    PoolPayout,
    PoolRule,
    Shift,
    ShiftStatus,
    Staff,
    TipAdjustment,
)
from payments.services.pool_accruals import pool_carry_over_locked
from payments.services.pool_refunds import pool_refunded_sats
from payments.services.shifts import ShiftRefused, shift_event, shift_for_merchant
from payments.services.tip_adjustments import staff_owed

log = get_logger(__name__)

# A review is good for this long: its amounts count open entries up to the review, so confirming much
# later would pay for hours nobody reviewed (and close people out long before they left).
REVIEW_VALID_FOR = timedelta(minutes=30)
REVIEW_CLOCK_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, kw_only=True)
class PersonShare:
    staff_id: int
    display_name: str
    role_name: str
    role_weight: int
    worked_seconds: int
    tip_out_sats: int
    share_sats: int
    owed_sats: int  # refunded tips still to recover before this close
    adjustment_sats: int  # what this close deducts
    amount_sats: int  # what is paid

    @property
    def hours(self) -> float:
        return round(self.worked_seconds / 3600, 2)


@dataclass(frozen=True, kw_only=True)
class ClosePreview:
    shift: Shift
    pool_sats: int  # accrued to this shift plus the carry-over
    carry_over_sats: int
    refunded_sats: int  # tips of this pool's sales the merchant refunded: back to the merchant
    method: str
    tip_outs: list[dict[str, object]]
    people: list[PersonShare] = field(default_factory=list)
    fingerprint: str = ""
    # The moment the review counts open entries up to; confirming clocks them out at this moment, so
    # each person is paid exactly what the review showed (shift_close_confirm).
    as_of: datetime | None = None
    problem: str = ""  # why it cannot be confirmed as it is (empty: it can)

    @property
    def returned_to_merchant_sats(self) -> int:
        return self.refunded_sats + sum(p.adjustment_sats for p in self.people)


def pool_rule_for(shift: Shift) -> tuple[str, list[TipOutRule]]:
    rule = (
        PoolRule.objects.filter(merchant_id=shift.merchant_id, group_id=shift.group_id).first()
        or PoolRule.objects.filter(merchant_id=shift.merchant_id, group__isnull=True).first()
    )
    if rule is None:
        return PoolMethod.HOURS.value, []
    outs = [TipOutRule(role=t.role.name, percent_bps=t.percent_bps) for t in rule.tip_outs.select_related("role")]
    return rule.method, outs


def _worked(entries: list[ClockEntry], now: datetime) -> dict[int, int]:
    seconds: dict[int, int] = {}
    for e in entries:
        end = e.clock_out_at or max(now, e.clock_in_at)
        seconds[e.staff_id] = seconds.get(e.staff_id, 0) + int((end - e.clock_in_at).total_seconds())
    return seconds


def _fingerprint(
    pool: int,
    carry: int,
    refunded: int,
    method: str,
    outs: list[TipOutRule],
    entries: list[ClockEntry],
    as_of: datetime,
) -> str:
    times = [
        [e.pk, e.staff_id, e.clock_in_at.isoformat(), e.clock_out_at.isoformat() if e.clock_out_at else None]
        for e in sorted(entries, key=lambda e: e.pk)
    ]
    body = {
        "pool": pool,
        "carry": carry,
        "refunded": refunded,
        "method": method,
        "outs": [[t.role, t.percent_bps] for t in outs],
        "entries": times,
        "as_of": as_of.isoformat() if any(e.clock_out_at is None for e in entries) else None,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _member(person: Staff, seconds: int) -> Member:
    role = person.role
    return Member(key=person.pk, seconds=seconds, role=role.name if role else "", weight=role.weight if role else 100)


def _compute(shift: Shift, *, now: datetime) -> ClosePreview:
    entries = list(ClockEntry.objects.filter(shift=shift).order_by("pk"))
    own = list(PoolAccrual.objects.filter(shift=shift))
    waiting = list(PoolAccrual.objects.filter(group_id=shift.group_id, shift__isnull=True))
    carry = sum(a.amount_sats for a in waiting)
    pool = sum(a.amount_sats for a in own) + carry
    refunded = pool_refunded_sats(own + waiting)
    method, outs = pool_rule_for(shift)
    worked = _worked(entries, now)
    staff = {s.pk: s for s in Staff.objects.filter(pk__in=worked).select_related("role")}
    members = [_member(staff[pk], worked[pk]) for pk in sorted(worked)]
    base = ClosePreview(
        shift=shift,
        pool_sats=pool,
        carry_over_sats=carry,
        method=method,
        tip_outs=[{"role": t.role, "percent_bps": t.percent_bps} for t in outs],
        refunded_sats=refunded,
        fingerprint=_fingerprint(pool, carry, refunded, method, outs, entries, now),
        as_of=now,
    )
    try:
        shares = allocate_pool(pool_sats=pool - refunded, members=members, method=method, tip_outs=outs)
    except PoolAllocationError as exc:
        return replace(base, problem=str(exc).capitalize() + ".")
    owed = staff_owed(sorted(worked))
    people = []
    for share, member in zip(shares, members, strict=True):
        taken = deduct(share_sats=share.amount, owed_sats=owed[member.key])
        person = staff[member.key]
        people.append(
            PersonShare(
                staff_id=member.key,
                display_name=person.display_name,
                role_name=member.role,
                role_weight=member.weight,
                worked_seconds=member.seconds,
                tip_out_sats=share.tip_out_sats,
                share_sats=share.amount,
                owed_sats=owed[member.key],
                adjustment_sats=taken,
                amount_sats=share.amount - taken,
            )
        )
    return replace(base, people=people)


def shift_close_preview(*, merchant: Merchant, shift_id: object) -> ClosePreview:
    """What confirming it would allocate and pay, with open entries counted up to now (reads only)."""
    shift = shift_for_merchant(merchant=merchant, shift_id=shift_id)
    return _compute(shift, now=timezone.now().replace(microsecond=0))


def _review_time(as_of: object, now: datetime) -> datetime:
    """The review's moment, posted back with its fingerprint: not in the future, not stale."""
    parsed = parse_datetime(as_of) if isinstance(as_of, str) else None
    if parsed is None or timezone.is_naive(parsed):
        message = "Review the allocation first (its time is missing or not a date and time with a zone)."
        raise ShiftRefused(message, code="invalid_input", fields={"as_of": [message]})
    if parsed > now + REVIEW_CLOCK_SKEW:
        message = "The review's time is in the future."
        raise ShiftRefused(message, code="invalid_input", fields={"as_of": [message]})
    if now - parsed > REVIEW_VALID_FOR:
        message = f"The review is more than {int(REVIEW_VALID_FOR.total_seconds() // 60)} minutes old; review again."
        raise ShiftRefused(message, code="changed", fields={"as_of": [message]}, http_status=409)
    return parsed


def shift_close_confirm(*, merchant: Merchant, shift_id: object, fingerprint: object, as_of: object, by: str) -> Shift:
    """Close the shift and commit one payout per person (see the module docstring). ``as_of`` is the
    review's moment (``ClosePreview.as_of``): whoever is still clocked in is clocked out at that moment,
    so the amounts are the reviewed ones. Raises 404 for another merchant's shift, 409 when already
    closed, changed since the review, the review is stale, or not allocatable."""
    from payments.services.pool_payouts import enqueue_pool_payout

    shift = shift_for_merchant(merchant=merchant, shift_id=shift_id)
    if not isinstance(fingerprint, str) or not fingerprint:
        message = "Review the allocation first."
        raise ShiftRefused(message, code="invalid_input", fields={"fingerprint": [message]})
    now = timezone.now()
    reviewed_at = _review_time(as_of, now)
    with transaction.atomic():
        shift = Shift.objects.select_for_update(of=("self",)).get(pk=shift.pk)
        if shift.status != ShiftStatus.OPEN:
            raise ShiftRefused("This shift is already closed.", code="already_closed", http_status=409)
        preview = _compute(shift, now=reviewed_at)
        if preview.fingerprint != fingerprint:
            message = "Sales or times changed since the review; review the allocation again."
            raise ShiftRefused(message, code="changed", fields={"fingerprint": [message]}, http_status=409)
        if preview.problem:
            raise ShiftRefused(preview.problem, code="not_allocatable", http_status=409)
        still_in = ClockEntry.objects.filter(shift=shift, clock_out_at__isnull=True)
        for entry in still_in:
            shift_event(shift, "clocked_out", {"staff_id": entry.staff_id, "entry_id": entry.pk, "source": "close"})
        still_in.update(clock_out_at=reviewed_at)
        pool_carry_over_locked(shift=shift)
        payouts = _allocate_locked(shift, preview)
        shift.status = ShiftStatus.CLOSED if payouts else ShiftStatus.SETTLED
        shift.closed_at, shift.closed_by = now, by[:100]
        shift.settled_at = None if payouts else now
        shift.method, shift.tip_outs, shift.pool_sats = preview.method, preview.tip_outs, preview.pool_sats
        shift.save()
        shift_event(
            shift,
            "shift_closed",
            {"by": by[:100], "pool_sats": preview.pool_sats, "method": preview.method, "payouts": len(payouts)},
        )
        for payout_id in payouts:
            transaction.on_commit(lambda pid=payout_id: enqueue_pool_payout(pid))  # type: ignore[misc]
    log.info("shift.closed", shift_id=shift.pk, pool=preview.pool_sats, people=len(preview.people))
    return shift


def _allocate_locked(shift: Shift, preview: ClosePreview) -> list[int]:
    """Allocation rows, deductions and payouts. Precondition: the shift is locked and being closed."""
    staff_ids = [p.staff_id for p in preview.people]
    list(Staff.objects.select_for_update(of=("self",)).filter(pk__in=staff_ids).order_by("pk").values_list("pk"))
    owed_now = staff_owed(staff_ids)
    payouts: list[int] = []
    returned = 0
    for person in preview.people:
        if owed_now[person.staff_id] != person.owed_sats:  # a refund was paid since the preview
            raise ShiftRefused("A refund changed what is owed; review again.", code="changed", http_status=409)
        allocation = PoolAllocation.objects.create(
            shift=shift,
            staff_id=person.staff_id,
            role_name=person.role_name,
            role_weight=person.role_weight,
            worked_seconds=person.worked_seconds,
            tip_out_sats=person.tip_out_sats,
            share_sats=person.share_sats,
            adjustment_sats=person.adjustment_sats,
            amount_sats=person.amount_sats,
        )
        shift_event(
            shift,
            "pool_allocated",
            {"staff_id": person.staff_id, "share_sats": person.share_sats, "amount_sats": person.amount_sats},
        )
        if person.adjustment_sats:
            TipAdjustment.objects.create(
                staff_id=person.staff_id,
                kind=AdjustmentKind.POOL_RECOVERY,
                amount_sats=person.adjustment_sats,
                pool_allocation=allocation,
            )
            shift_event(shift, "tip_recovered", {"staff_id": person.staff_id, "amount_sats": person.adjustment_sats})
            returned += person.adjustment_sats
        if person.amount_sats > 0:
            payout = PoolPayout.objects.create(
                allocation=allocation,
                shift=shift,
                staff_id=person.staff_id,
                external_id=uuid.uuid4().hex,
                amount_sats=person.amount_sats,
            )
            payouts.append(payout.pk)
    returned += preview.refunded_sats
    if returned:
        payout = PoolPayout.objects.create(shift=shift, external_id=uuid.uuid4().hex, amount_sats=returned)
        payouts.append(payout.pk)
        shift_event(shift, "pool_returned", {"amount_sats": returned, "refunded_sats": preview.refunded_sats})
    return payouts
