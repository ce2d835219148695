"""The payroll and tax report: per period and per staff member, hours, tips earned (per sale and pooled),
tip-outs given and received, paid out and still pending, in sats and in the display currency at the rate
of each payout (``analytics.payout_lines``). Its totals are sums of the same lines the staff see, so the
report's "paid out" equals the payouts that succeeded in it, to the sat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum

from analytics.merchant_reports import day_bounds
from analytics.payout_lines import PAID, PENDING, RESOLVED, PayoutLine, payout_lines, worked_seconds
from payments.models import Merchant, PoolAccrual, ShiftStatus, Staff

HOUR = Decimal(3600)


@dataclass(kw_only=True)
class PayrollRow:
    staff_id: int
    staff_name: str
    payout_destination: str
    display_currency: str = ""
    worked_seconds: int = 0
    tips_earned_sats: int = 0  # every line's amount: per-sale tips and pool shares after deductions
    sale_tips_sats: int = 0
    pool_shares_sats: int = 0
    tip_outs_given_sats: int = 0
    tip_outs_received_sats: int = 0
    deducted_sats: int = 0  # recovered from pool shares for refunded tips
    paid_out_sats: int = 0
    resolved_sats: int = 0  # settled by an operator by hand
    pending_sats: int = 0
    fees_sats: int = 0  # routing fees charged on the payouts (out of the shares)
    earned_display: Decimal = Decimal("0.00")
    paid_out_display: Decimal = Decimal("0.00")
    pending_display: Decimal = Decimal("0.00")
    unconverted_sats: int = 0  # lines without a rate in the display currency
    lines: list[PayoutLine] = field(default_factory=list, repr=False)

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.worked_seconds) / HOUR).quantize(Decimal("0.01"))

    def add(self, line: PayoutLine) -> None:
        self.lines.append(line)
        self.tips_earned_sats += line.amount_sats
        if line.kind == "sale_tip":
            self.sale_tips_sats += line.amount_sats
        else:
            self.pool_shares_sats += line.amount_sats
        self.tip_outs_given_sats += line.tip_out_given_sats
        self.tip_outs_received_sats += line.tip_out_received_sats
        self.deducted_sats += line.deducted_sats
        if line.standing == PAID:
            self.paid_out_sats += line.amount_sats
            self.fees_sats += line.fee_sats or 0
        elif line.standing == RESOLVED:
            self.resolved_sats += line.amount_sats
        else:
            self.pending_sats += line.amount_sats
        if line.display_amount is None:
            self.unconverted_sats += line.amount_sats
            return
        self.earned_display += line.display_amount
        if line.standing == PAID:
            self.paid_out_display += line.display_amount
        elif line.standing == PENDING:
            self.pending_display += line.display_amount


@dataclass(kw_only=True)
class PayrollReport:
    merchant: Merchant
    date_from: date | None
    date_to: date | None
    rows: list[PayrollRow]
    totals: PayrollRow
    # Pooled tips of shifts not closed yet (or waiting for the next close): nobody's share yet, so in no
    # row; shown beside the report so "pending" is not mistaken for everything still owed to staff.
    unallocated_pool_sats: int = 0

    @property
    def display_currency(self) -> str:
        return self.merchant.display_currency

    @property
    def lines(self) -> list[PayoutLine]:
        return [line for row in self.rows for line in row.lines]


def period_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    return (day_bounds(date_from)[0] if date_from else None, day_bounds(date_to)[1] if date_to else None)


def payroll_report(*, merchant: Merchant, date_from: date | None = None, date_to: date | None = None) -> PayrollReport:
    """Every staff member of the merchant who worked or earned in the period (inactive ones too: they
    were paid), with a totals row that is the sum of the rows."""
    since, until = period_bounds(date_from, date_to)
    staff = {s.pk: s for s in Staff.objects.filter(merchant=merchant).order_by("display_name", "pk")}
    ids = list(staff)
    rows: dict[int, PayrollRow] = {}

    def row_for(staff_id: int) -> PayrollRow:
        if staff_id not in rows:
            member = staff[staff_id]
            rows[staff_id] = PayrollRow(
                staff_id=staff_id,
                staff_name=member.display_name,
                payout_destination=member.payout_destination,
                display_currency=merchant.display_currency,
            )
        return rows[staff_id]

    for staff_id, seconds in worked_seconds(merchant=merchant, staff_ids=ids, since=since, until=until).items():
        row_for(staff_id).worked_seconds = seconds
    for line in payout_lines(merchant=merchant, staff_ids=ids, since=since, until=until):
        row_for(line.staff_id).add(line)
    ordered = [rows[pk] for pk in staff if pk in rows]
    totals = PayrollRow(
        staff_id=0, staff_name="Total", payout_destination="", display_currency=merchant.display_currency
    )
    for row in ordered:
        totals.worked_seconds += row.worked_seconds
        for line in row.lines:
            totals.add(line)
    totals.lines = []
    unallocated = PoolAccrual.objects.filter(merchant=merchant).exclude(
        shift__status__in=(ShiftStatus.CLOSED, ShiftStatus.SETTLED)
    )
    return PayrollReport(
        merchant=merchant,
        date_from=date_from,
        date_to=date_to,
        rows=ordered,
        totals=totals,
        unallocated_pool_sats=int(unallocated.aggregate(t=Sum("amount_sats"))["t"] or 0),
    )
