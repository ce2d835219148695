"""The outbox of merchants' outgoing webhooks: status changes become stored messages (docs/WEBHOOKS.md).

The state-change helpers (``transitions.transition_split`` / ``transition_leg``,
``refund_transitions.transition_refund``, ``refunds.refund_create``) call exactly one function here
inside their transaction. A message per subscribed, enabled endpoint is written in that same
transaction, so a status change and its webhook commit or roll back together; the send happens after
the commit (``webhook_delivery``), and the beat sweep finds any message whose task was lost.

The body is fixed when the event happens and signed byte for byte as stored; it carries no secret (no
preimage, no bolt11, no claim link).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from blinkpos.logging import get_logger
from payments import store
from payments.models import (
    LegStatus,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    PaymentLeg,
    PaymentSplit,
    Refund,
    RefundStatus,
    SplitStatus,
    WebhookEventType,
)
from payments.prepared import values_rows

log = get_logger(__name__)

E = WebhookEventType

SPLIT_EVENTS: Mapping[str, str] = {
    SplitStatus.PAID: E.INVOICE_PAID,
    SplitStatus.COMPLETED: E.PAYMENT_COMPLETED,
    SplitStatus.FAILED: E.PAYMENT_FAILED,
}
REFUND_EVENTS: Mapping[str, str] = {
    RefundStatus.AWAITING_FUNDING: E.REFUND_CREATED,
    RefundStatus.FUNDED: E.REFUND_FUNDED,
    RefundStatus.PAID: E.REFUND_PAID,
    RefundStatus.FAILED: E.REFUND_FAILED,
    RefundStatus.EXPIRED: E.REFUND_EXPIRED,
    RefundStatus.CANCELLED: E.REFUND_CANCELLED,
}

SEND_TASK = "payments.tasks.merchant_webhooks.merchant_webhook_send_task"


def new_msg_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def invoice_data(split: PaymentSplit) -> dict[str, Any]:
    """The invoice's status JSON, exactly as ``GET /api/v1/invoices/{hash}`` answers it."""
    from payments.api.status_payload import status_body  # the API's one definition of that JSON

    return status_body(store.snapshot(split))


def refund_data(refund: Refund) -> dict[str, Any]:
    """A refund as the refund API shows it, minus what is secret or short-lived (the funding bolt11,
    the customer's claim link)."""
    return {
        "id": refund.pk,
        "payment_hash": refund.split.payment_hash,
        "amount_sats": refund.amount_sats,
        "base_part_sats": refund.base_part_sats,
        "tip_part_sats": refund.tip_part_sats,
        "tip_refunded": refund.tip_refunded,
        "reason": refund.reason,
        "status": refund.status,
        "payout_via": refund.payout_via,
        "created_at": _iso(refund.created_at),
        "funded_at": _iso(refund.funded_at),
        "paid_at": _iso(refund.paid_at),
    }


def payout_data(leg: PaymentLeg) -> dict[str, Any]:
    """A failed payout (one leg of a sale) and the sale it belongs to."""
    return {
        "invoice": invoice_data(leg.split),
        "payout": {
            "id": leg.pk,
            "kind": leg.kind,
            "amount_sats": leg.amount,
            "recipient": leg.recipient_username,
            "staff_id": leg.staff_id,
            "status": leg.status,
            "attempts": leg.attempts,
        },
    }


def event_body(event_type: str, data: Mapping[str, Any], *, at: datetime) -> str:
    """The Standard Webhooks payload shape: ``{type, timestamp, data}``, compact JSON."""
    return json.dumps({"type": event_type, "timestamp": at.isoformat(), "data": data}, separators=(",", ":"))


def _listening(event_type: str, merchant_id: int) -> QuerySet[MerchantWebhookEndpoint, int]:
    # Parameters in the compiled order (Django sorts the filter's keywords): the type, then the merchant.
    return MerchantWebhookEndpoint.objects.filter(
        merchant_id=merchant_id, enabled=True, event_types__contains=[event_type]
    ).values_list("pk", flat=True)


def _emit(*, merchant_id: int, event_type: str, data: Callable[[], dict[str, Any]]) -> list[int]:
    """Store one message per enabled endpoint of the merchant subscribed to ``event_type`` and publish
    their sends after commit. One indexed query when nobody listens (the usual case)."""
    endpoint_ids = [
        row[0]
        for row in values_rows(
            "webhook_endpoints_listening",
            _listening,
            event_type,
            merchant_id,
            using=router.db_for_read(MerchantWebhookEndpoint),
        )
    ]
    if not endpoint_ids:
        return []
    now = timezone.now()
    body = event_body(event_type, data(), at=now)
    messages = MerchantWebhookMessage.objects.bulk_create(
        MerchantWebhookMessage(
            endpoint_id=endpoint_id,
            msg_id=new_msg_id(),
            event_type=event_type,
            body=body,
            created_at=now,
            next_attempt_at=now,
            published_at=now,
        )
        for endpoint_id in endpoint_ids
    )
    ids = [m.pk for m in messages]
    transaction.on_commit(lambda: publish_sends(ids))
    return ids


def publish_sends(message_ids: list[int]) -> None:
    """Publish a send task per message (after commit). Never raises: a lost publish is found by the
    sweep, because the row is the truth."""
    from payments.services.enqueue import publish_quietly

    for message_id in message_ids:
        publish_quietly(SEND_TASK, message_id, failure_event="merchant_webhook.publish_failed", message_id=message_id)


# --- the calls the state-change helpers make (inside their transaction) -----------------------------


def split_changed(split: PaymentSplit) -> None:
    """``transition_split`` moved ``split``: ``invoice.paid``, ``payment.completed`` or ``payment.failed``."""
    event_type = SPLIT_EVENTS.get(split.status)
    if event_type is not None:
        _emit(merchant_id=split.merchant_id, event_type=event_type, data=lambda: invoice_data(split))


def leg_changed(leg: PaymentLeg) -> None:
    """``transition_leg`` moved ``leg``: an explicit failure no automatic retry follows (it waits for an
    operator) is ``payout.failed``; a failure with a retry scheduled is not news for the merchant."""
    if leg.status == LegStatus.FAILED and leg.next_attempt_at is None:
        _emit(merchant_id=leg.split.merchant_id, event_type=E.PAYOUT_FAILED, data=lambda: payout_data(leg))


def refund_changed(refund: Refund) -> None:
    """A refund was created or ``transition_refund`` moved it: ``refund.<status>``."""
    event_type = REFUND_EVENTS.get(refund.status)
    if event_type is not None:
        _emit(merchant_id=refund.merchant_id, event_type=event_type, data=lambda: refund_data(refund))
