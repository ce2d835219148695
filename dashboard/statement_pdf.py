"""PDF versions of a staff member's statement and of the payroll report (fpdf2, core fonts, A4).

The figures are the ones of the CSV and the page (``analytics.payout_lines``); the PDF only lays them
out. Proof of payment is shown as the payout's payment hash (the preimage is in the CSV: too long for
a printed column, and sha256(preimage) == hash is what an auditor checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from fpdf import FPDF

from analytics.payout_lines import PayoutLine
from analytics.payroll import PayrollReport, PayrollRow
from analytics.staff_statements import StaffOverview

_ENCODING = "latin-1"  # core PDF fonts: anything else prints as "?" rather than failing the download


def _text(value: object) -> str:
    return str(value).encode(_ENCODING, "replace").decode(_ENCODING)


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _period(date_from: date | None, date_to: date | None) -> str:
    if not date_from and not date_to:
        return "all time"
    return f"{date_from or '...'} to {date_to or '...'}"


class _Doc(FPDF):
    def __init__(self, title: str, *, landscape: bool) -> None:
        super().__init__(orientation="landscape" if landscape else "portrait", unit="mm", format="A4")
        self.set_title(_text(title))
        self.set_auto_page_break(True, margin=12)
        self.add_page()

    def heading(self, text: str, size: float = 15) -> None:
        self.set_font("helvetica", "B", size)
        self.cell(0, 9, _text(text), new_x="LMARGIN", new_y="NEXT")

    def note(self, text: str) -> None:
        self.set_font("helvetica", "", 9)
        self.multi_cell(0, 5, _text(text), new_x="LMARGIN", new_y="NEXT")

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[float]) -> None:
        self.set_font("helvetica", "B", 8)
        for title, width in zip(header, widths, strict=True):
            self.cell(width, 6, _text(title), border="B")
        self.ln()
        self.set_font("helvetica", "", 8)
        for row in rows:
            for value, width in zip(row, widths, strict=True):
                self.cell(width, 5.5, _text(value))
            self.ln()
        self.ln(2)


def _line_row(line: PayoutLine) -> list[object]:
    return [
        _when(line.earned_at),
        "sale tip" if line.kind == "sale_tip" else "pool share",
        line.reference[:16],
        line.amount_sats,
        _money(line.display_amount),
        line.status,
        _when(line.paid_out_at),
        (line.payout_hash or "-")[:24],
    ]


_LINE_HEADER = ["earned", "kind", "sale / shift", "sats", "display", "status", "paid out", "payout hash"]


def staff_statement_pdf(overview: StaffOverview) -> bytes:
    staff, s = overview.staff, overview.summary
    currency = staff.merchant.display_currency
    pdf = _Doc(f"{staff.display_name}: tips statement", landscape=False)
    pdf.heading(f"Tips statement: {staff.display_name}")
    period = _period(overview.date_from, overview.date_to)
    pdf.note(f"{staff.merchant.name} - {period} - paid to {staff.payout_destination}")
    pdf.grid(
        ["hours", "earned sats", "paid out sats", "pending sats", f"earned {currency}", f"paid out {currency}"],
        [
            [
                s.hours,
                s.tips_earned_sats,
                s.paid_out_sats,
                s.pending_sats,
                _money(s.earned_display),
                _money(s.paid_out_display),
            ]
        ],
        [25, 30, 30, 30, 35, 35],
    )
    pdf.heading("Tips and payouts", 12)
    pdf.grid(_LINE_HEADER, [_line_row(x) for x in overview.lines], [27, 18, 28, 16, 18, 20, 27, 36])
    if overview.adjustments:
        pdf.heading("Refunded-tip adjustments", 12)
        pdf.grid(
            ["when", "kind", "sats", "sale"],
            [[_when(a.created_at), a.kind, a.amount_sats, a.sale_payment_hash[:24]] for a in overview.adjustments],
            [35, 30, 25, 60],
        )
    return bytes(pdf.output())


def _payroll_row(row: PayrollRow) -> list[object]:
    return [
        row.staff_name[:24],
        row.hours,
        row.tips_earned_sats,
        row.tip_outs_given_sats,
        row.tip_outs_received_sats,
        row.paid_out_sats,
        row.pending_sats,
        _money(row.earned_display),
        _money(row.paid_out_display),
        _money(row.pending_display),
    ]


def payroll_pdf(report: PayrollReport) -> bytes:
    currency = report.display_currency
    pdf = _Doc(f"{report.merchant.name}: payroll", landscape=True)
    pdf.heading(f"Payroll and tips: {report.merchant.name}")
    pdf.note(
        f"Period: {_period(report.date_from, report.date_to)}. Amounts in sats and in {currency} at the rate of "
        "each payout (the sale's rate, or the pool's). Sale tips count on the day the sale was paid, pool "
        "shares on the day their shift closed, hours on the day of clock-in."
    )
    header = [
        "staff", "hours", "earned sats", "tip-outs given", "tip-outs recv.", "paid out sats", "pending sats",
        f"earned {currency}", f"paid out {currency}", f"pending {currency}",
    ]  # fmt: skip
    widths = [44, 18, 26, 26, 26, 26, 26, 28, 28, 28]
    pdf.grid(header, [*(_payroll_row(r) for r in report.rows), _payroll_row(report.totals)], widths)
    pdf.heading("Payouts", 12)
    pdf.grid(
        ["staff", *_LINE_HEADER],
        [[line.staff_name[:20], *_line_row(line)] for line in report.lines],
        [36, 28, 20, 30, 18, 22, 26, 28, 60],
    )
    return bytes(pdf.output())
