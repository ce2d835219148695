"""Staff sign-in in the back office: the merchants' staff codes and each staff member's sign-in (email,
PIN set or not, lock) are read-only here — the merchant sets them in the dashboard — apart from lifting a
PIN lock. Neither the PIN's hash nor any sign-in link token (only their hashes exist) is ever shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.admin.common import ReadOnlyAdmin
from payments.models import StaffLogin, StaffPortal, StaffSignInToken


@admin.register(StaffPortal)
class StaffPortalAdmin(ReadOnlyAdmin):
    list_display = ("merchant", "code", "created_at")
    search_fields = ("merchant__name", "code")
    list_select_related = ("merchant",)


@admin.register(StaffLogin)
class StaffLoginAdmin(ReadOnlyAdmin):
    list_display = ("staff", "merchant", "email", "has_pin", "failed_attempts", "locked_until", "updated_at")
    list_filter = ("staff__merchant",)
    search_fields = ("staff__display_name", "staff__blink_username", "email", "staff__merchant__name")
    list_select_related = ("staff__merchant",)
    exclude = ("pin_hash",)
    actions = ("unlock",)

    @admin.display(description="merchant")
    def merchant(self, obj: StaffLogin) -> str:
        return obj.staff.merchant.name

    @admin.display(boolean=True, description="PIN set")
    def has_pin(self, obj: StaffLogin) -> bool:
        return obj.has_pin

    @admin.action(description="Lift the wrong-PIN lock of the selected sign-ins")
    def unlock(self, request: HttpRequest, queryset: QuerySet[StaffLogin]) -> None:
        # The session version stays: the person's open sessions go on.
        done = queryset.update(failed_attempts=0, locked_until=None)
        self.message_user(request, f"{done} sign-in(s) unlocked.", messages.SUCCESS)


@admin.register(StaffSignInToken)
class StaffSignInTokenAdmin(ReadOnlyAdmin):
    """Who was sent a sign-in link, when, and whether it was used (the token's hash is not shown)."""

    list_display = ("staff", "origin", "created_at", "expires_at", "used_at")
    list_filter = ("origin", "staff__merchant")
    search_fields = ("staff__display_name", "staff__blink_username")
    list_select_related = ("staff",)
    exclude = ("token_hash",)
