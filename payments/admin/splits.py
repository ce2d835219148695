"""Payment splits, their legs and the audit trail: view-only, with retry and CSV export actions."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString

from payments.admin.common import (
    ReadOnlyAdmin,
    ReadOnlyTabularInline,
    csv_response,
    run_service,
    short_hash,
    status_badge,
)
from payments.models import PaymentEvent, PaymentLeg, PaymentSplit

SPLIT_CSV_COLUMNS = [
    ("payment_hash", lambda s: s.payment_hash),
    ("merchant", lambda s: s.merchant.blink_username),
    ("status", lambda s: s.status),
    ("total_sats", lambda s: s.total_amount),
    ("base_sats", lambda s: s.base_amount),
    ("tip_sats", lambda s: s.tip_amount),
    ("tip_percent", lambda s: s.tip_percent),
    ("tip_recipient", lambda s: s.tip_recipient),
    ("display_currency", lambda s: s.display_currency),
    ("base_display", lambda s: s.base_amount_display),
    ("tip_display", lambda s: s.tip_amount_display),
    ("created_at", lambda s: s.created_at.isoformat()),
    ("paid_at", lambda s: s.paid_at.isoformat() if s.paid_at else ""),
    ("processed_at", lambda s: s.processed_at.isoformat() if s.processed_at else ""),
    ("memo", lambda s: s.memo),
    # sale, tip_only (a pay code's tip or one added from a receipt) or paycode (a merchant code's sale)
    ("kind", lambda s: s.kind),
]

LEG_FIELDS = (
    "kind",
    "recipient_username",
    "amount",
    "weight_bps",
    "status_colour",
    "attempts",
    "route_kind",
    "route_address",
    "payout_amount",
    "fee_payer",
    "fee_estimate_sats",
    "fee_sats",
    "fee_reimbursed_sats",
    "last_error_code",
    "last_error",
    "payout_hash",
    "preimage",
    "succeeded_at",
    "resolution_note",
)


class PaymentLegInline(ReadOnlyTabularInline):
    model = PaymentLeg
    fields = LEG_FIELDS
    readonly_fields = LEG_FIELDS
    verbose_name_plural = "legs (outgoing transfers)"

    @admin.display(description="status")
    def status_colour(self, leg: PaymentLeg) -> SafeString:
        return status_badge(leg.status)

    @admin.display(description="payout hash")
    def payout_hash(self, leg: PaymentLeg) -> str:
        return leg.payment_hash or "—"


EVENT_FIELDS = ("timestamp", "event_type", "from_status", "to_status", "leg", "event_data")


class PaymentEventInline(ReadOnlyTabularInline):
    model = PaymentEvent
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    ordering = ("timestamp", "id")
    verbose_name_plural = "audit trail"


@admin.register(PaymentSplit)
class PaymentSplitAdmin(ReadOnlyAdmin):
    list_display = (
        "hash_short",
        "merchant",
        "status_colour",
        "kind",
        "total_amount",
        "base_amount",
        "tip_amount",
        "tip_percent",
        "tip_recipient",
        "created_at",
        "paid_at",
    )
    list_filter = (
        "status",
        "kind",
        "merchant",
        "platform_account",
        ("created_at", admin.DateFieldListFilter),
        "tip_recipient",
    )
    search_fields = ("=payment_hash", "payment_hash", "username", "tip_recipient", "external_id")
    date_hierarchy = "created_at"
    list_select_related = ("merchant",)
    inlines = (PaymentLegInline, PaymentEventInline)
    # The encrypted legacy key is never shown; the customer's bolt11 is kept out of the list.
    exclude = ("user_api_key_encrypted",)
    actions = ("retry_forwarding", "export_csv")
    list_per_page = 50

    @admin.display(description="payment hash", ordering="payment_hash")
    def hash_short(self, split: PaymentSplit) -> str:
        return short_hash(split.payment_hash, 16)

    @admin.display(description="status", ordering="status")
    def status_colour(self, split: PaymentSplit) -> SafeString:
        return status_badge(split.status)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_paymentsplit")

    @admin.action(description="Retry forwarding of the selected payments", permissions=["retry"])
    def retry_forwarding(self, request: HttpRequest, queryset: QuerySet[PaymentSplit]) -> None:
        from payments.services.operator_actions import forwarding_retry

        actor = f"admin:{request.user.get_username()}"
        done = 0
        for split_id in queryset.values_list("pk", flat=True):
            if run_service(
                request,
                self,
                f"retry payment {split_id}",
                partial(forwarding_retry, split_id=split_id, actor=actor),
            ):
                done += 1
        if done:
            self.message_user(request, f"Forwarding retried for {done} payment(s).", messages.SUCCESS)

    @admin.action(description="Export the selected payments as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[PaymentSplit]) -> HttpResponse:
        return csv_response("payments.csv", SPLIT_CSV_COLUMNS, queryset.select_related("merchant").order_by("pk"))


@admin.register(PaymentLeg)
class PaymentLegAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "split_hash",
        "kind",
        "recipient_username",
        "amount",
        "status_colour",
        "attempts",
        "last_error_code",
        "created_at",
    )
    list_filter = ("status", "kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=split__payment_hash", "payment_hash", "recipient_username", "external_id")
    list_select_related = ("split",)
    exclude = ("payment_request",)
    date_hierarchy = "created_at"

    @admin.display(description="payment hash", ordering="split__payment_hash")
    def split_hash(self, leg: PaymentLeg) -> str:
        return short_hash(leg.split.payment_hash, 16)

    @admin.display(description="status", ordering="status")
    def status_colour(self, leg: PaymentLeg) -> SafeString:
        return status_badge(leg.status)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "hash_short", "event_type", "from_status", "to_status", "leg")
    list_filter = ("event_type", ("timestamp", admin.DateFieldListFilter))
    search_fields = ("=split__payment_hash",)
    date_hierarchy = "timestamp"

    @admin.display(description="payment hash")
    def hash_short(self, event: PaymentEvent) -> str:
        return short_hash(event.split_id, 16)
