"""Refunds as the cashier's shift summary reads them.

The refunds feature fills this in (its own model and receipts); until then a shift has no refunds. The
shift summary (``payments.terminal_shift``), the cashier's view and ``GET /api/v1/terminal/summary``
already call it, so refunds appear there without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.models import Terminal


@dataclass(frozen=True, kw_only=True, slots=True)
class ShiftRefunds:
    count: int = 0
    sats: int = 0  # sats refunded to customers, merchant-funded


def shift_refunds(*, terminal: Terminal, since: datetime, until: datetime) -> ShiftRefunds:
    """Refunds made on ``terminal`` in ``[since, until)``: none yet."""
    return ShiftRefunds()
