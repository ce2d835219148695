"""The one way a refund changes state (docs/ARCHITECTURE.md, Refunds).

Every transition is checked against ``REFUND_TRANSITIONS`` under the row lock and appends its audit
event (on the sale's trail, ``payment_events``, with the refund's id) in the same transaction.

Lock order: the sale's split row first, then the refund (the ceiling trigger locks the split on
every status change of a refund, so taking it first keeps one order everywhere: split, legs or
refunds, then staff).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import connection

from payments.models import PaymentSplit, Refund, RefundStatus
from payments.services import webhook_outbox
from payments.services.transitions import IllegalTransition, lock_split, record_event

R = RefundStatus

REFUND_TRANSITIONS: Mapping[str, frozenset[str]] = {
    R.AWAITING_FUNDING: frozenset({R.FUNDED, R.EXPIRED, R.CANCELLED}),
    R.FUNDED: frozenset({R.PAYING}),
    # A confirmed failure re-opens the claim (a new invoice); too many of them need an operator.
    R.PAYING: frozenset({R.PAID, R.FUNDED, R.FAILED}),
    # An operator's retry re-opens the claim.
    R.FAILED: frozenset({R.FUNDED}),
    R.PAID: frozenset(),
    R.EXPIRED: frozenset(),
    R.CANCELLED: frozenset(),
}


def can_transition_refund(current: str, target: str) -> bool:
    return target in REFUND_TRANSITIONS.get(current, frozenset())


def lock_refund(*, refund_id: int) -> tuple[PaymentSplit, Refund] | None:
    """Lock the refund's sale, then the refund (inside ``transaction.atomic``); None when missing."""
    _require_atomic()
    split_id = Refund.objects.filter(pk=refund_id).values_list("split_id", flat=True).first()
    if split_id is None:
        return None
    split = lock_split(split_id=split_id)
    refund = Refund.objects.select_for_update(of=("self",)).filter(pk=refund_id).first()
    if split is None or refund is None:
        return None
    return split, refund


def refund_event(
    split: PaymentSplit,
    refund: Refund,
    event_type: str,
    data: Mapping[str, Any] | None = None,
    *,
    from_status: str = "",
    to_status: str = "",
) -> None:
    record_event(
        split, event_type, {"refund_id": refund.pk, **(data or {})}, from_status=from_status, to_status=to_status
    )


def transition_refund(
    split: PaymentSplit,
    refund: Refund,
    target: str,
    *,
    event_type: str,
    data: Mapping[str, Any] | None = None,
    **updates: Any,
) -> Refund:
    """Move a locked refund to ``target``, set ``updates`` and append ``event_type``.

    Precondition: inside ``transaction.atomic`` with both rows locked by ``lock_refund``.
    """
    _require_atomic()
    current = refund.status
    if not can_transition_refund(current, target):
        raise IllegalTransition("refund", current, target)
    refund.status = target
    for name, value in updates.items():
        setattr(refund, name, value)
    refund.save(update_fields=["status", "updated_at", *updates.keys()])
    refund_event(split, refund, event_type, data, from_status=current, to_status=target)
    webhook_outbox.refund_changed(refund)  # the merchant's webhooks: stored in this transaction
    return refund


def _require_atomic() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("state changes must run inside transaction.atomic()")
