"""The payout queue: every leg an operator may need to look at (failed, pending, unknown), oldest first,
with the provider's last answer and the retry / resolve actions.

Resolving needs a note, asked for on an intermediate page; ``leg_resolve`` records it as an event.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from payments.admin.common import ReadOnlyAdmin, run_service, short_hash, status_badge
from payments.models import LegStatus, PaymentLeg

QUEUE_STATUSES = (LegStatus.FAILED, LegStatus.PENDING, LegStatus.UNKNOWN)


class PayoutQueueItem(PaymentLeg):
    """A proxy over ``payment_legs`` so the queue has its own admin page and permissions."""

    class Meta:
        proxy = True
        app_label = "payments"
        verbose_name = "payout queue item"
        verbose_name_plural = "payout queue"


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=5,
        max_length=1000,
        help_text="Why this transfer needs no more forwarding (e.g. paid by hand, with reference). Recorded "
        "in the audit trail.",
    )


@admin.register(PayoutQueueItem)
class PayoutQueueAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "split_hash",
        "merchant",
        "kind",
        "recipient_username",
        "amount",
        "status_colour",
        "attempts",
        "lookup_failures",
        "last_error_code",
        "last_error_short",
        "age",
    )
    list_filter = ("status", "kind", "split__merchant")
    search_fields = ("=split__payment_hash", "payment_hash", "recipient_username")
    list_select_related = ("split", "split__merchant")
    ordering = ("created_at", "id")
    actions = ("retry_forwarding", "resolve_legs")
    exclude = ("payment_request",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(status__in=QUEUE_STATUSES)

    @admin.display(description="payment hash")
    def split_hash(self, leg: PaymentLeg) -> str:
        return short_hash(leg.split.payment_hash, 16)

    @admin.display(description="merchant")
    def merchant(self, leg: PaymentLeg) -> str:
        return leg.split.merchant.name

    @admin.display(description="status", ordering="status")
    def status_colour(self, leg: PaymentLeg) -> SafeString:
        return status_badge(leg.status)

    @admin.display(description="provider's last answer")
    def last_error_short(self, leg: PaymentLeg) -> str:
        return (leg.last_error[:80] + "…") if len(leg.last_error) > 80 else (leg.last_error or "—")

    @admin.display(description="age", ordering="created_at")
    def age(self, leg: PaymentLeg) -> str:
        minutes = int((timezone.now() - leg.created_at).total_seconds() // 60)
        if minutes < 120:
            return f"{minutes} min"
        return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} d"

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_paymentsplit")

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_paymentleg")

    @admin.action(description="Retry forwarding of the selected legs' payments", permissions=["retry"])
    def retry_forwarding(self, request: HttpRequest, queryset: QuerySet[PaymentLeg]) -> None:
        from payments.services.operator_actions import forwarding_retry

        actor = f"admin:{request.user.get_username()}"
        split_ids = sorted(set(queryset.values_list("split_id", flat=True)))
        done = sum(
            run_service(request, self, f"retry payment {sid}", partial(forwarding_retry, split_id=sid, actor=actor))
            for sid in split_ids
        )
        if done:
            self.message_user(request, f"Forwarding retried for {done} payment(s).", messages.SUCCESS)

    @admin.action(description="Mark the selected legs resolved (asks for a note)", permissions=["resolve"])
    def resolve_legs(self, request: HttpRequest, queryset: QuerySet[PaymentLeg]) -> HttpResponse | None:
        form = ResolveForm(request.POST if "confirm" in request.POST else None)
        if "confirm" in request.POST and form.is_valid():
            from payments.services.operator_actions import leg_resolve

            actor = f"admin:{request.user.get_username()}"
            note = form.cleaned_data["note"]
            done = sum(
                run_service(
                    request,
                    self,
                    f"resolve leg {leg_id}",
                    partial(leg_resolve, leg_id=leg_id, note=note, actor=actor),
                )
                for leg_id in queryset.values_list("pk", flat=True)
            )
            if done:
                self.message_user(request, f"{done} leg(s) marked resolved.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Resolve payout legs",
            "opts": self.model._meta,
            "legs": queryset.select_related("split"),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/payments/payout_resolve.html", context)
