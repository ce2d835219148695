"""What arrived from outside (webhooks, unexpected payments), idempotency records and tip statistics."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from payments.admin.common import AdminStylesMixin, ReadOnlyAdmin
from payments.models import IdempotencyRecord, TipRecipientStats, UnmatchedPayment, WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The audit trail of Blink's deliveries. ``outcome`` is ``queued`` from the acknowledgement until a
    worker (or the reconciler's sweep) has acted on it, then final (``paid``, ``already_handled``,
    ``ignored*``, ``rejected``...); ``processed_at`` says when."""

    list_display = (
        "received_at",
        "svix_id",
        "event_type",
        "payment_hash",
        "outcome",
        "amount_sats",
        "preimage_verified",
        "processed_at",
        "source_ip",
    )
    list_filter = ("outcome", "event_type", "platform_account", ("received_at", admin.DateFieldListFilter))
    search_fields = ("=svix_id", "=payment_hash")
    date_hierarchy = "received_at"


@admin.register(UnmatchedPayment)
class UnmatchedPaymentAdmin(AdminStylesMixin, admin.ModelAdmin):
    """Money nobody expected: the amount is read-only; an operator records how it was settled."""

    list_display = ("received_at", "payment_hash", "amount", "resolved_at", "resolution_note")
    list_filter = (
        ("resolved_at", admin.EmptyFieldListFilter),
        "platform_account",
        ("received_at", admin.DateFieldListFilter),
    )
    search_fields = ("=payment_hash",)
    fields = ("payment_hash", "amount", "event_data", "received_at", "resolved_at", "resolution_note")
    readonly_fields = ("payment_hash", "amount", "event_data", "received_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "merchant", "key", "response_status")
    list_filter = ("response_status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=key",)
    exclude = ("response_body",)


@admin.register(TipRecipientStats)
class TipRecipientStatsAdmin(ReadOnlyAdmin):
    list_display = (
        "recipient_username",
        "total_tips_received",
        "total_tips_count",
        "average_tip_amount",
        "first_tip_received_at",
        "last_tip_received_at",
    )
    list_filter = (("last_tip_received_at", admin.DateFieldListFilter),)
    search_fields = ("recipient_username",)
