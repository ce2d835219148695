"""Pay codes in the back office: read-only (merchants create them in the dashboard, where the
recipient checks run), with a deactivate action through the service."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.admin.common import AdminStylesMixin, run_service
from payments.models import PayCode


@admin.register(PayCode)
class PayCodeAdmin(AdminStylesMixin, admin.ModelAdmin):
    list_display = ("username", "kind", "merchant", "staff", "split_profile", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("username", "merchant__name", "staff__display_name")
    readonly_fields = (
        "merchant",
        "kind",
        "username",
        "staff",
        "split_profile",
        "min_sendable_sats",
        "max_sendable_sats",
        "is_active",
        "created_at",
        "deactivated_at",
    )
    actions = ("deactivate",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # paycode_create checks the recipient (merchant dashboard)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # payments point at the code; a printed name must never pay someone else

    @admin.action(description="Deactivate the selected pay codes")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[PayCode]) -> None:
        from payments.services.paycodes import paycode_deactivate

        done = sum(
            run_service(request, self, f"deactivate {c}", partial(paycode_deactivate, pay_code=c)) for c in queryset
        )
        if done:
            self.message_user(request, f"{done} pay code(s) deactivated.", messages.SUCCESS)
