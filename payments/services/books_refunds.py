"""Refunds in the books (docs/ARCHITECTURE.md, Refunds): what the platform wallet holds for refunds and
which of Blink's transactions are theirs. Reads only.

A refund's funding receive is the merchant's money held for the customer (a liability) until its
payout leaves; the payout send (and any fee Blink gives back under its hash) belongs to the refund,
not to a stranger. So the books' expected balance gains ``refunds_funded`` and loses
``refunds_paid_out`` (amount and fee) and what Blink debited for payouts not yet recorded as paid.
"""

from __future__ import annotations

from django.db.models import F, Q, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import BooksTransaction, PaymentEvent, Refund, RefundStatus

R = RefundStatus
HELD_STATUSES = (R.FUNDED, R.PAYING, R.PAID, R.FAILED)


def refund_funding_hashes() -> set[str]:
    return set(Refund.objects.values_list("funding_payment_hash", flat=True))


def refund_payout_hashes() -> set[str]:
    """Every payout invoice ever committed for a refund (the row keeps only the current one)."""
    current = {h for h in Refund.objects.exclude(payout_hash=None).values_list("payout_hash", flat=True) if h}
    committed = PaymentEvent.objects.filter(event_type="refund_payout_committed").values_list("event_data", flat=True)
    return current | {
        d["payout_hash"] for d in committed if isinstance(d, dict) and isinstance(d.get("payout_hash"), str)
    }


def refund_hashes() -> set[str]:
    return refund_funding_hashes() | refund_payout_hashes()


def refund_balance_parts() -> dict[str, int]:
    funded = Refund.objects.filter(status__in=HELD_STATUSES, funded_at__isnull=False)
    paid = Refund.objects.filter(status=R.PAID)
    in_flight = set(
        h
        for h in Refund.objects.filter(status=R.PAYING).exclude(payout_hash=None).values_list("payout_hash", flat=True)
        if h
    )
    sent_not_paid = BooksTransaction.objects.filter(
        Q(direction="SEND") & Q(status__in=("SUCCESS", "PENDING")) & Q(payment_hash__in=in_flight)
    )
    zero = Value(0)
    return {
        "refunds_funded": int(funded.aggregate(t=Coalesce(Sum("amount_sats"), zero))["t"]),
        "refunds_paid_out": int(
            paid.aggregate(t=Coalesce(Sum(F("amount_sats") + Coalesce("payout_fee_sats", zero)), zero))["t"]
        ),
        "sent_for_refunds_not_paid": -int(sent_not_paid.aggregate(t=Coalesce(Sum("amount_sats"), zero))["t"]),
    }
