"""The web app's lookups of one of the merchant's rows, as a 404 when it is missing or another
merchant's (the two are indistinguishable). The reads themselves are ``payments.selectors``."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from payments import selectors
from payments.models import Merchant, PaymentEvent, PaymentSplit, SplitStatus, Staff, Terminal
from payments.refund_selectors import refunds_for_split


def split_get(*, merchant: Merchant, payment_hash: str) -> PaymentSplit:
    split = selectors.split_get_for_merchant(merchant_id=merchant.pk, payment_hash=payment_hash)
    if split is None:
        raise Http404("No such payment")
    return split


def split_detail(*, merchant: Merchant, payment_hash: str) -> dict[str, Any]:
    """The split with its legs and its audit trail, oldest event first."""
    split = split_get(merchant=merchant, payment_hash=payment_hash)
    return {
        "split": split,
        "legs": list(split.legs.select_related("staff").order_by("pk")),
        "events": list(PaymentEvent.objects.filter(split=split).order_by("timestamp", "pk")),
        "refunds": list(refunds_for_split(split=split)),
        "refundable": split.status == SplitStatus.COMPLETED,
    }


def staff_get(*, merchant: Merchant, staff_id: int) -> Staff:
    """Active or not: a deactivated member's statement stays readable."""
    staff = selectors.staff_get_for_merchant(merchant_id=merchant.pk, staff_id=staff_id, active_only=False)
    if staff is None:
        raise Http404("No such staff member")
    return staff


def terminal_get(*, merchant: Merchant, terminal_id: int) -> Terminal:
    terminal = Terminal.objects.filter(merchant=merchant, pk=terminal_id).first()
    if terminal is None:
        raise Http404("No such terminal")
    return terminal
