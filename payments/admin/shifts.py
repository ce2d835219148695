"""Shifts and pooled tips in the back office: shifts with their clock entries, corrections, allocations
and payouts, read-only (money and audit rows change only through services); pooled tips waiting on the
platform wallet (a liability towards staff) shown on the shift and pool payout lists; one action
re-opens failed pool payouts (``pool_payouts.pool_payout_reopen``). Groups, roles and pool rules are
plain settings and editable."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from payments.admin.common import ReadOnlyAdmin, ReadOnlyTabularInline, run_service, status_badge
from payments.models import (
    ClockCorrection,
    ClockEntry,
    PoolAccrual,
    PoolAllocation,
    PoolPayout,
    PoolRule,
    Shift,
    ShiftEvent,
    StaffRole,
    TerminalGroup,
    TipOut,
)


def _with_liability(extra_context: dict[str, Any] | None) -> dict[str, Any]:
    from payments.services.pool_accruals import pool_waiting_sats

    waiting = pool_waiting_sats()
    return {**(extra_context or {}), "subtitle": f"Pooled tips waiting on the platform wallet: {waiting} sats"}


class ClockEntryInline(ReadOnlyTabularInline):
    model = ClockEntry
    fields = ("staff", "clock_in_at", "clock_out_at", "source")


class AllocationInline(ReadOnlyTabularInline):
    model = PoolAllocation
    fields = ("staff", "role_name", "worked_seconds", "tip_out_sats", "share_sats", "adjustment_sats", "amount_sats")


class PayoutInline(ReadOnlyTabularInline):
    model = PoolPayout
    fields = ("staff", "amount_sats", "status", "attempts", "failures", "last_error_code", "succeeded_at")


@admin.register(Shift)
class ShiftAdmin(ReadOnlyAdmin):
    list_display = ("opened_at", "id", "merchant", "group", "status_badge", "pool_sats", "closed_at", "settled_at")
    list_filter = ("status", ("opened_at", admin.DateFieldListFilter))
    inlines = [ClockEntryInline, AllocationInline, PayoutInline]

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Shift) -> Any:
        return status_badge(obj.status)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, _with_liability(extra_context))


@admin.register(PoolPayout)
class PoolPayoutAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "id",
        "shift",
        "staff",
        "amount_sats",
        "status",
        "attempts",
        "failures",
        "last_error_code",
    )
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=payment_hash", "=external_id")
    exclude = ("payment_request", "preimage")  # the bolt11 and the proof stay out of the back office
    actions = ["reopen"]

    def has_reopen_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_poolpayout")

    @admin.action(description="Re-open the selected failed pool payouts", permissions=["reopen"])
    def reopen(self, request: HttpRequest, queryset: QuerySet[PoolPayout]) -> None:
        from payments.services.pool_payouts import pool_payout_reopen

        actor = f"admin:{request.user.get_username()}"
        done = sum(
            run_service(
                request,
                self,
                f"re-open pool payout {pk}",
                partial(pool_payout_reopen, merchant=None, payout_id=pk, by=actor),
            )
            for pk in queryset.values_list("pk", flat=True)
        )
        if done:
            self.message_user(request, f"{done} pool payout(s) re-opened.", messages.SUCCESS)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, _with_liability(extra_context))


@admin.register(PoolAccrual)
class PoolAccrualAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "split", "merchant", "group", "shift", "amount_sats")
    list_filter = (("created_at", admin.DateFieldListFilter),)


@admin.register(PoolAllocation)
class PoolAllocationAdmin(ReadOnlyAdmin):
    list_display = ("shift", "staff", "role_name", "worked_seconds", "share_sats", "adjustment_sats", "amount_sats")


@admin.register(ClockEntry)
class ClockEntryAdmin(ReadOnlyAdmin):
    list_display = ("clock_in_at", "clock_out_at", "staff", "shift", "source")
    list_filter = ("source",)


@admin.register(ClockCorrection)
class ClockCorrectionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "entry", "corrected_by", "old_clock_in_at", "new_clock_in_at", "reason")


@admin.register(ShiftEvent)
class ShiftEventAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "event_type", "shift", "payout")
    list_filter = ("event_type",)


class TipOutInline(admin.TabularInline):
    model = TipOut
    extra = 0


@admin.register(TipOut)
class TipOutAdmin(admin.ModelAdmin):
    list_display = ("rule", "role", "percent_bps")


@admin.register(PoolRule)
class PoolRuleAdmin(admin.ModelAdmin):
    list_display = ("merchant", "group", "method")
    inlines = [TipOutInline]


@admin.register(TerminalGroup)
class TerminalGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "merchant")


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ("name", "merchant", "weight")
