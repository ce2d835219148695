"""Pooled tips in the books (docs/ARCHITECTURE.md, Shifts and pooled tips): what the platform wallet
holds for staff and which of Blink's transactions are pool payouts. Reads only.

A pooled tip is received with its sale (``received`` in the balance) and no leg forwards it: it stays
on the platform wallet as a liability towards staff until its shift's payouts leave. So the expected
balance loses ``pool_paid_out`` (payout invoice amount plus the fee Blink charged, less what it gave
back) and what Blink debited for pool payouts not yet recorded as succeeded. ``pooled_tips_waiting``
is that liability (accrued, not yet paid out), shown beside the parts; it is already inside
``received`` and does not enter the sum.
"""

from __future__ import annotations

from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import BooksTransaction, PoolPayout, PoolPayoutStatus, ShiftEvent
from payments.services.pool_accruals import pool_waiting_sats

P = PoolPayoutStatus


def pool_payout_hashes() -> set[str]:
    """Every payout invoice ever committed for a pool payout (a row keeps only its current one)."""
    current = {h for h in PoolPayout.objects.exclude(payment_hash=None).values_list("payment_hash", flat=True) if h}
    committed = ShiftEvent.objects.filter(event_type="pool_payout_committed").values_list("event_data", flat=True)
    return current | {
        d["payout_hash"] for d in committed if isinstance(d, dict) and isinstance(d.get("payout_hash"), str)
    }


def pool_balance_parts() -> dict[str, int]:
    zero = Value(0)
    paid = PoolPayout.objects.filter(status=P.SUCCEEDED)
    in_flight = {
        h
        for h in PoolPayout.objects.exclude(status=P.SUCCEEDED)
        .exclude(payment_hash=None)
        .values_list("payment_hash", flat=True)
        if h
    }
    sent_not_paid = BooksTransaction.objects.filter(
        Q(direction="SEND") & Q(status__in=("SUCCESS", "PENDING")) & Q(payment_hash__in=in_flight)
    )
    paid_out = paid.aggregate(
        t=Coalesce(Sum(Coalesce("payout_amount", "amount_sats") + Coalesce("fee_sats", zero)), zero)
    )["t"]
    return {
        "pool_paid_out": int(paid_out),
        # A send's amount is negative in Blink's ledger: what it debited is its opposite.
        "sent_for_pool_payouts_not_paid": -int(sent_not_paid.aggregate(t=Coalesce(Sum(F("amount_sats")), zero))["t"]),
        "pooled_tips_waiting": pool_waiting_sats(),
    }
