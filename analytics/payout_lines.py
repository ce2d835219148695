"""What each staff member earned and was paid, as lines: one per tip leg of a paid sale (per-sale tips)
and one per share of a closed shift's pool (pooled tips), each with its payout's proof and its value in
the display currency. The staff member's own pages, their statements and the merchant's payroll report
are all built from these lines, so they cannot disagree.

Display currency: every line is converted at the rate stored with the money it came from, never at
today's price. A sale's tip uses that sale's ``sats_per_unit`` (the rate its invoice was priced at); a
pool share uses its pool's rate, the pooled sats over the display value of the pooled sales (each at
its own rate). A line whose sale was priced in another currency, or without a rate, has no display
value (``display_amount`` None) and is counted apart, never converted at a guessed rate.

Periods: a sale's tip belongs to the day the sale was paid, a pool share to the day its shift closed;
hours to the day the person clocked in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import QuerySet
from django.utils import timezone

from payments.domain.refund_amounts import proportional
from payments.models import (
    BooksTransaction,
    ClockEntry,
    LegStatus,
    Merchant,
    PaymentLeg,
    PoolAccrual,
    PoolAllocation,
    PoolPayoutStatus,
    ShiftStatus,
)
from payments.models.splits import LegKind

CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.00000001")
SALE_TIP, POOL_SHARE = "sale_tip", "pool_share"
# Where a line's sats stand: paid (a payout succeeded), settled by an operator by hand, or still owed.
PAID, RESOLVED, PENDING = "paid", "resolved", "pending"


@dataclass(frozen=True, kw_only=True)
class PayoutLine:
    kind: str  # SALE_TIP or POOL_SHARE
    object_id: int  # the tip leg's id, or the pool allocation's id (the proof page's address)
    staff_id: int
    staff_name: str
    earned_at: datetime | None  # the sale's payment, or the shift's close
    reference: str  # the sale's payment hash, or "shift <id>"
    amount_sats: int  # what the person is owed for this line (after refunded-tip deductions)
    tip_out_received_sats: int = 0  # of amount_sats: taken from the pool for the person's role first
    tip_out_given_sats: int = 0  # the person's part of the pool's tip-outs to other roles
    deducted_sats: int = 0  # recovered from this pool share for refunded tips
    status: str  # the leg's or the pool payout's own status
    standing: str  # PAID, RESOLVED or PENDING
    paid_out_at: datetime | None = None
    fee_sats: int | None = None
    payout_hash: str = ""
    preimage: str = field(default="", repr=False)  # the proof of payment; never logged
    route: str = ""
    # Blink's id of the payout's transaction on the platform wallet, once the books run has read it: the
    # proof where the preimage is not known.
    blink_transaction_id: str = ""
    display_currency: str = ""
    sats_per_unit: Decimal | None = None
    display_amount: Decimal | None = None


def to_display(sats: int, sats_per_unit: Decimal | None) -> Decimal | None:
    """Sats in display-currency units at ``sats_per_unit``, to the cent (banker's rounding)."""
    if sats_per_unit is None or sats_per_unit <= 0:
        return None
    return (Decimal(sats) / sats_per_unit).quantize(CENT, rounding=ROUND_HALF_EVEN)


def _leg_standing(status: str) -> str:
    if status == LegStatus.SUCCEEDED:
        return PAID
    return RESOLVED if status == LegStatus.RESOLVED else PENDING


def _bounds(qs: QuerySet, field_name: str, since: datetime | None, until: datetime | None) -> QuerySet:
    if since is not None:
        qs = qs.filter(**{f"{field_name}__gte": since})
    if until is not None:
        qs = qs.filter(**{f"{field_name}__lt": until})
    return qs


def sale_tip_lines(
    *, merchant: Merchant, staff_ids: list[int], since: datetime | None, until: datetime | None
) -> list[PayoutLine]:
    """Tip legs of paid sales for these staff (all of the merchant's: ids of another's match nothing)."""
    legs = _bounds(
        PaymentLeg.objects.filter(
            split__merchant=merchant, kind=LegKind.TIP, staff_id__in=staff_ids, split__paid_at__isnull=False
        ),
        "split__paid_at",
        since,
        until,
    ).select_related("split", "staff")
    lines = []
    for leg in legs.order_by("split__paid_at", "pk"):
        split = leg.split
        rate = split.sats_per_unit if split.display_currency == merchant.display_currency else None
        assert leg.staff is not None
        lines.append(
            PayoutLine(
                kind=SALE_TIP,
                object_id=leg.pk,
                staff_id=leg.staff.pk,
                staff_name=leg.staff.display_name,
                earned_at=split.paid_at,
                reference=split.payment_hash,
                amount_sats=leg.amount,
                status=leg.status,
                standing=_leg_standing(leg.status),
                paid_out_at=leg.succeeded_at,
                fee_sats=leg.fee_sats,
                payout_hash=leg.payment_hash or "",
                preimage=leg.preimage,
                route=leg.route_kind,
                display_currency=merchant.display_currency,
                sats_per_unit=rate,
                display_amount=to_display(leg.amount, rate),
            )
        )
    return lines


def pool_rates(*, merchant: Merchant, shift_ids: Iterable[int]) -> dict[int, Decimal]:
    """Shift id -> sats per display unit of its pool: pooled sats over their display value, each sale at
    its own rate. Only sales priced in the merchant's display currency count; a shift without any has
    no rate."""
    sats: dict[int, int] = defaultdict(int)
    value: dict[int, Decimal] = defaultdict(Decimal)
    accruals = PoolAccrual.objects.filter(
        merchant=merchant,
        shift_id__in=list(shift_ids),
        split__display_currency=merchant.display_currency,
        split__sats_per_unit__gt=0,
    ).values_list("shift_id", "amount_sats", "split__sats_per_unit")
    for shift_id, amount, rate in accruals:
        if rate is None:  # excluded by the filter; said again for the type checker
            continue
        sats[shift_id] += amount
        value[shift_id] += Decimal(amount) / rate
    return {
        shift_id: (Decimal(sats[shift_id]) / value[shift_id]).quantize(RATE_PLACES)
        for shift_id in sats
        if value[shift_id] > 0
    }


def tip_outs_given(allocations: list[PoolAllocation]) -> dict[int, int]:
    """Allocation id -> the sats of the shift's tip-outs that came out of this person's pool part: the
    tip-outs shared over everyone's pool part (largest remainder), so they sum to the tip-outs exactly."""
    by_shift: dict[int, list[PoolAllocation]] = defaultdict(list)
    for row in allocations:
        by_shift[row.shift_id].append(row)
    given: dict[int, int] = {}
    for rows in by_shift.values():
        tip_outs = sum(r.tip_out_sats for r in rows)
        weights = [r.share_sats - r.tip_out_sats for r in rows]
        if tip_outs <= 0 or sum(weights) <= 0:
            given.update({r.pk: 0 for r in rows})
            continue
        given.update(dict(zip([r.pk for r in rows], proportional(amount=tip_outs, weights=weights), strict=True)))
    return given


def pool_share_lines(
    *, merchant: Merchant, staff_ids: list[int], since: datetime | None, until: datetime | None
) -> list[PayoutLine]:
    """Shares of the merchant's closed shifts' pools for these staff, by the shift's close."""
    shifts_closed = PoolAllocation.objects.filter(
        shift__merchant=merchant, shift__status__in=(ShiftStatus.CLOSED, ShiftStatus.SETTLED)
    )
    shifts_closed = _bounds(shifts_closed, "shift__closed_at", since, until)
    # Tip-outs given are shared over the whole shift, so every allocation of those shifts is read.
    everyone = list(
        PoolAllocation.objects.filter(shift_id__in=shifts_closed.values("shift_id")).select_related(
            "shift", "staff", "payout"
        )
    )
    given = tip_outs_given(everyone)
    rates = pool_rates(merchant=merchant, shift_ids={row.shift_id for row in everyone})
    wanted = set(staff_ids)
    lines = []
    for row in sorted(everyone, key=lambda r: (r.shift.closed_at or timezone.now(), r.shift_id, r.pk)):
        if row.staff_id not in wanted:
            continue
        payout = getattr(row, "payout", None)
        status = payout.status if payout is not None else ("nothing_to_pay" if not row.amount_sats else "allocated")
        standing = PAID if status == PoolPayoutStatus.SUCCEEDED or not row.amount_sats else PENDING
        rate = rates.get(row.shift_id)
        lines.append(
            PayoutLine(
                kind=POOL_SHARE,
                object_id=row.pk,
                staff_id=row.staff_id,
                staff_name=row.staff.display_name,
                earned_at=row.shift.closed_at,
                reference=f"shift {row.shift_id}",
                amount_sats=row.amount_sats,
                tip_out_received_sats=row.tip_out_sats,
                tip_out_given_sats=given.get(row.pk, 0),
                deducted_sats=row.adjustment_sats,
                status=status,
                standing=standing,
                paid_out_at=payout.succeeded_at if payout is not None else None,
                fee_sats=payout.fee_sats if payout is not None else None,
                payout_hash=(payout.payment_hash or "") if payout is not None else "",
                preimage=payout.preimage if payout is not None else "",
                route=payout.route_kind if payout is not None else "",
                display_currency=merchant.display_currency,
                sats_per_unit=rate,
                display_amount=to_display(row.amount_sats, rate),
            )
        )
    return lines


def payout_lines(
    *, merchant: Merchant, staff_ids: list[int], since: datetime | None, until: datetime | None
) -> list[PayoutLine]:
    """Both kinds of line for these staff, oldest first."""
    lines = sale_tip_lines(merchant=merchant, staff_ids=staff_ids, since=since, until=until)
    lines += pool_share_lines(merchant=merchant, staff_ids=staff_ids, since=since, until=until)
    lines = _with_blink_ids(lines)
    epoch = timezone.now().replace(year=1970)
    return sorted(lines, key=lambda line: (line.earned_at or epoch, line.kind, line.object_id))


def _with_blink_ids(lines: list[PayoutLine]) -> list[PayoutLine]:
    """Each line with its payout's Blink transaction id (outgoing, from the books' copy of the wallet's
    transactions), where the books have seen it."""
    hashes = {line.payout_hash for line in lines if line.payout_hash}
    if not hashes:
        return lines
    ids = dict(
        BooksTransaction.objects.filter(payment_hash__in=hashes, direction="SEND")
        .order_by("created_at")
        .values_list("payment_hash", "blink_id")
    )
    return [replace(line, blink_transaction_id=ids.get(line.payout_hash, "")) for line in lines]


def worked_seconds(
    *, merchant: Merchant, staff_ids: list[int], since: datetime | None, until: datetime | None
) -> dict[int, int]:
    """Staff id -> seconds clocked (entries by their clock-in; one still open counts up to now)."""
    now = timezone.now()
    entries = _bounds(
        ClockEntry.objects.filter(shift__merchant=merchant, staff_id__in=staff_ids), "clock_in_at", since, until
    )
    out: dict[int, int] = defaultdict(int)
    for staff_id, clock_in, clock_out in entries.values_list("staff_id", "clock_in_at", "clock_out_at"):
        out[staff_id] += max(int(((clock_out or now) - clock_in).total_seconds()), 0)
    return dict(out)
