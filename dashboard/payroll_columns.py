"""CSV columns of the payroll report and of statements (one line per tip or pool share). Display amounts
are in the merchant's display currency at each line's own rate (``analytics.payout_lines``)."""

from __future__ import annotations

from typing import Any


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


def _dec(value: Any) -> str:
    return "" if value is None else str(value)


LINE_COLUMNS: list[tuple[str, Any]] = [
    ("staff_id", lambda x: x.staff_id),
    ("staff_name", lambda x: x.staff_name),
    ("kind", lambda x: x.kind),  # sale_tip or pool_share
    ("earned_at", lambda x: _iso(x.earned_at)),
    ("reference", lambda x: x.reference),  # the sale's payment hash, or "shift <id>"
    ("amount_sats", lambda x: x.amount_sats),
    ("tip_out_received_sats", lambda x: x.tip_out_received_sats),
    ("tip_out_given_sats", lambda x: x.tip_out_given_sats),
    ("deducted_sats", lambda x: x.deducted_sats),
    ("status", lambda x: x.status),
    ("standing", lambda x: x.standing),  # paid, resolved or pending
    ("paid_out_at", lambda x: _iso(x.paid_out_at)),
    ("fee_sats", lambda x: "" if x.fee_sats is None else x.fee_sats),
    ("payout_payment_hash", lambda x: x.payout_hash),
    ("preimage", lambda x: x.preimage),
    ("blink_transaction_id", lambda x: x.blink_transaction_id),
    ("display_currency", lambda x: x.display_currency),
    ("sats_per_unit", lambda x: _dec(x.sats_per_unit)),
    ("display_amount", lambda x: _dec(x.display_amount)),
]

PAYROLL_COLUMNS: list[tuple[str, Any]] = [
    ("staff_id", lambda r: r.staff_id or ""),
    ("staff_name", lambda r: r.staff_name),
    ("payout_destination", lambda r: r.payout_destination),
    ("hours", lambda r: str(r.hours)),
    ("tips_earned_sats", lambda r: r.tips_earned_sats),
    ("sale_tips_sats", lambda r: r.sale_tips_sats),
    ("pool_shares_sats", lambda r: r.pool_shares_sats),
    ("tip_outs_given_sats", lambda r: r.tip_outs_given_sats),
    ("tip_outs_received_sats", lambda r: r.tip_outs_received_sats),
    ("refund_deductions_sats", lambda r: r.deducted_sats),
    ("paid_out_sats", lambda r: r.paid_out_sats),
    ("resolved_sats", lambda r: r.resolved_sats),
    ("pending_sats", lambda r: r.pending_sats),
    ("fees_sats", lambda r: r.fees_sats),
    ("display_currency", lambda r: r.display_currency),
    ("tips_earned_display", lambda r: str(r.earned_display)),
    ("paid_out_display", lambda r: str(r.paid_out_display)),
    ("pending_display", lambda r: str(r.pending_display)),
    ("unconverted_sats", lambda r: r.unconverted_sats),
]
