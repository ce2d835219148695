"""Refunds and tip adjustments in the back office: read-only (money changes only through services);
one action re-opens failed refunds (``refund_payouts.refund_reopen``)."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from payments.admin.common import ReadOnlyAdmin, run_service
from payments.models import Refund, TipAdjustment


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "id", "merchant", "amount_sats", "tip_part_sats", "status", "payout_state", "paid_at")
    list_filter = ("status", "payout_state", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=funding_payment_hash", "=payout_hash", "=split__payment_hash")
    # The bolt11s and the claim secrets stay out of the back office's pages.
    exclude = ("funding_payment_request", "payout_request", "claim_token", "claim_k1", "payout_preimage")
    actions = ["reopen"]

    def has_reopen_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_refund")

    @admin.action(description="Re-open the selected failed refunds for a new claim", permissions=["reopen"])
    def reopen(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        from payments.services.refund_payouts import refund_reopen

        actor = f"admin:{request.user.get_username()}"
        done = sum(
            run_service(request, self, f"re-open refund {pk}", partial(refund_reopen, refund_id=pk, by=actor))
            for pk in queryset.values_list("pk", flat=True)
        )
        if done:
            self.message_user(request, f"{done} refund(s) re-opened.", messages.SUCCESS)


@admin.register(TipAdjustment)
class TipAdjustmentAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "staff", "kind", "amount_sats", "refund", "split")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
