"""The outgoing webhooks' payloads in the OpenAPI document (``webhooks`` section, OpenAPI 3.1), read
by drf-spectacular through ``SPECTACULAR_SETTINGS["WEBHOOKS"]``. What is sent is built by
``payments.services.webhook_outbox``; docs/WEBHOOKS.md explains headers, signatures and retries."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from payments.api.status_payload import InvoiceStatusSerializer
from payments.models import RefundStatus

_HEADERS = (
    "Standard Webhooks headers: `webhook-id` (the message id, the same on every retry and replay: dedupe "
    "on it), `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature` (`v1,<base64 "
    "HMAC-SHA256>`; two of them, space separated, during a secret rotation). Verify with any Standard "
    "Webhooks library and your endpoint's `whsec_` secret. Answer 2xx quickly; 410 disables the endpoint; "
    "anything else is retried for up to 3 days."
)


class RefundEventData(serializers.Serializer):
    class Meta:
        ref_name = "RefundEventData"

    id = serializers.IntegerField()
    payment_hash = serializers.CharField(help_text="The refunded sale.")
    amount_sats = serializers.IntegerField()
    base_part_sats = serializers.IntegerField()
    tip_part_sats = serializers.IntegerField()
    tip_refunded = serializers.BooleanField()
    reason = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    payout_via = serializers.CharField()
    created_at = serializers.DateTimeField()
    funded_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)


class PayoutEventPayout(serializers.Serializer):
    id = serializers.IntegerField(help_text="The payout (leg) id.")
    kind = serializers.CharField(help_text="merchant, tip or commission.")
    amount_sats = serializers.IntegerField()
    recipient = serializers.CharField()
    staff_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    attempts = serializers.IntegerField()


class PayoutEventData(serializers.Serializer):
    invoice = InvoiceStatusSerializer()
    payout = PayoutEventPayout()


def _envelope(name: str, data: serializers.Serializer, types: list[str]) -> type[serializers.Serializer]:
    attrs = {
        "type": serializers.ChoiceField(choices=types),
        "timestamp": serializers.DateTimeField(help_text="When the event happened."),
        "data": data,
        "Meta": type("Meta", (), {"ref_name": name}),
    }
    return type(name, (serializers.Serializer,), attrs)


InvoiceEvent = _envelope(
    "InvoiceWebhookEvent", InvoiceStatusSerializer(), ["invoice.paid", "payment.completed", "payment.failed"]
)
PayoutEvent = _envelope("PayoutWebhookEvent", PayoutEventData(), ["payout.failed"])
RefundEvent = _envelope(
    "RefundWebhookEvent",
    RefundEventData(),
    ["refund.created", "refund.funded", "refund.paid", "refund.failed", "refund.expired", "refund.cancelled"],
)

_ACK = {200: OpenApiResponse(description="Received (any 2xx). 410 Gone disables the endpoint.")}


def _webhook(name: str, summary: str, body: type[serializers.Serializer]) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=name,
        decorator=extend_schema(summary=summary, description=_HEADERS, request=body, responses=_ACK),
    )


INVOICE_HOOK = _webhook(
    "invoice",
    "invoice.paid, payment.completed, payment.failed: data is the invoice's status JSON",
    InvoiceEvent,
)
PAYOUT_HOOK = _webhook("payout", "payout.failed: a share could not be paid (an operator is on it)", PayoutEvent)
REFUND_HOOK = _webhook("refund", "refund.*: a refund was created or changed status", RefundEvent)
