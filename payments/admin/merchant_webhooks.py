"""Merchants' webhook endpoints and their delivery log in the back office: read-only (merchants manage
their endpoints in the dashboard). Secrets are never shown, not even encrypted: only whether a
rotation's previous secret still signs."""

from __future__ import annotations

from django.contrib import admin

from payments.admin.common import ReadOnlyAdmin, ReadOnlyTabularInline
from payments.models import MerchantWebhookAttempt, MerchantWebhookEndpoint, MerchantWebhookMessage


@admin.register(MerchantWebhookEndpoint)
class MerchantWebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "merchant", "url", "enabled", "failing_since", "disabled_at", "disabled_reason")
    list_filter = ("enabled", ("disabled_at", admin.DateFieldListFilter))
    search_fields = ("url", "merchant__name", "merchant__blink_username")
    exclude = ("secret_encrypted", "previous_secret_encrypted")
    readonly_fields = ("secret_masked",)

    @admin.display(description="Signing secret")
    def secret_masked(self, obj: MerchantWebhookEndpoint) -> str:
        rotating = obj.previous_secret_expires_at is not None and obj.previous_secret_encrypted
        return "whsec_•••••• (encrypted)" + (" + previous secret during rotation" if rotating else "")


class AttemptInline(ReadOnlyTabularInline):
    model = MerchantWebhookAttempt
    fields = ("attempted_at", "trigger", "status_code", "error", "duration_ms", "response_body", "succeeded")
    extra = 0
    ordering = ("-attempted_at",)


@admin.register(MerchantWebhookMessage)
class MerchantWebhookMessageAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "msg_id", "endpoint", "event_type", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "event_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=msg_id",)
    inlines = [AttemptInline]


@admin.register(MerchantWebhookAttempt)
class MerchantWebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("attempted_at", "endpoint", "message", "trigger", "status_code", "error", "duration_ms")
    list_filter = ("succeeded", "trigger", ("attempted_at", admin.DateFieldListFilter))
