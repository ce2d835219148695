"""Refunds as the cashier's shift summary reads them.

The shift summary (``payments.terminal_shift``), the cashier's view and ``GET /api/v1/terminal/summary``
call this: it condenses ``payments.refund_selectors.refund_summary_for_terminal`` (refunds of the sales
this terminal took, created in the shift) to what a cashier closing a shift needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.models import Terminal
from payments.refund_selectors import refund_summary_for_terminal


@dataclass(frozen=True, kw_only=True, slots=True)
class ShiftRefunds:
    count: int = 0  # refunds created and not cancelled
    sats: int = 0  # sats paid back to customers, merchant-funded
    open_sats: int = 0  # funded or being paid: held for the customer
    awaiting_sats: int = 0  # waiting for the merchant's funding


def shift_refunds(*, terminal: Terminal, since: datetime, until: datetime) -> ShiftRefunds:
    """Refunds of the sales ``terminal`` took, created in ``[since, until)``; another terminal's are not
    counted."""
    summary = refund_summary_for_terminal(terminal_id=terminal.pk, since=since, until=until)
    return ShiftRefunds(
        count=summary.count,
        sats=summary.paid_sats,
        open_sats=summary.open_sats,
        awaiting_sats=summary.awaiting_sats,
    )
