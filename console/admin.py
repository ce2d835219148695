"""The three reporting views as read-only admin lists, and the console's pages mounted on the admin site.

Found by the admin's autodiscovery (``console`` is an installed app), like ``blinkpos/admin.py``: the
lists are registered here, and the site's URL list is extended with ``console.urls`` so the pages are
served under the admin with its sign-in and second-factor checks.

Each list's "Export CSV" link exports exactly the rows the list shows (same filters, search and
order, every page), and is written to the admin log.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from console import audit, urls
from console.access import can_use_console
from console.models import ActivePayment, PaymentStatistic, TopTipRecipient
from payments.admin.common import ReadOnlyAdmin, csv_response, short_hash, status_badge


class ConsoleViewAdmin(ReadOnlyAdmin):
    """A read-only list over a SQL view, for console users only, with a CSV export of the current list."""

    list_display_links = None
    change_list_template = "console/view_change_list.html"
    csv_columns: list[tuple[str, Callable[[Any], Any]]] = []

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_use_console(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_use_console(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        return {}

    def _export_name(self) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_export"

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_csv), name=self._export_name())
        return [export, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        query = request.GET.urlencode()
        export_url = reverse(f"admin:{self._export_name()}") + (f"?{query}" if query else "")
        return super().changelist_view(request, {**(extra_context or {}), "export_url": export_url})

    def filtered_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        """The rows the changelist shows for this request's filters, search and order (all pages)."""
        return self.get_changelist_instance(request).queryset

    def export_csv(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        rows = self.filtered_queryset(request)
        name = self.model._meta.db_table
        audit.record(request, "export", f"view {name} ({request.GET.urlencode() or 'all rows'})")
        return csv_response(f"{name}.csv", self.csv_columns, rows.iterator())


def _split_link(split_id: int, payment_hash: str) -> SafeString:
    url = reverse("admin:payments_paymentsplit_change", args=[split_id])
    return format_html('<a href="{}" title="{}"><code>{}</code></a>', url, payment_hash, short_hash(payment_hash, 16))


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


@admin.register(ActivePayment)
class ActivePaymentAdmin(ConsoleViewAdmin):
    list_display = (
        "split",
        "status_colour",
        "username",
        "total_amount",
        "tip_amount",
        "tip_recipient",
        "display_currency",
        "created_at",
        "expires_at",
        "age",
    )
    list_filter = ("status", "display_currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=payment_hash", "username", "user_wallet_id", "tip_recipient")
    date_hierarchy = "created_at"
    ordering = ("created_at",)
    csv_columns = [
        ("id", lambda r: r.id),
        ("payment_hash", lambda r: r.payment_hash),
        ("merchant_id", lambda r: r.merchant_id),
        ("username", lambda r: r.username),
        ("status", lambda r: r.status),
        ("total_amount", lambda r: r.total_amount),
        ("base_amount", lambda r: r.base_amount),
        ("tip_amount", lambda r: r.tip_amount),
        ("tip_percent", lambda r: r.tip_percent),
        ("tip_recipient", lambda r: r.tip_recipient),
        ("display_currency", lambda r: r.display_currency),
        ("created_at", lambda r: _iso(r.created_at)),
        ("expires_at", lambda r: _iso(r.expires_at)),
        ("paid_at", lambda r: _iso(r.paid_at)),
        ("age_seconds", lambda r: r.age_seconds),
    ]

    @admin.display(description="split", ordering="payment_hash")
    def split(self, row: ActivePayment) -> SafeString:
        return _split_link(row.id, row.payment_hash)

    @admin.display(description="status", ordering="status")
    def status_colour(self, row: ActivePayment) -> SafeString:
        return status_badge(row.status)

    @admin.display(description="age", ordering="-age_seconds")
    def age(self, row: ActivePayment) -> str:
        minutes, seconds = divmod(int(row.age_seconds), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


# The view's figures, shown and exported in this order (the day is a link in the list, a date in the CSV).
_STATISTIC_FIGURES = (
    "total_payments",
    "completed_payments",
    "pending_payments",
    "processing_payments",
    "failed_payments",
    "expired_payments",
    "total_volume",
    "total_base",
    "total_tips",
    "average_tip_percent",
    "unique_tip_recipients",
)


@admin.register(PaymentStatistic)
class PaymentStatisticAdmin(ConsoleViewAdmin):
    list_display = ("day", *_STATISTIC_FIGURES)
    list_filter = (("date", admin.DateFieldListFilter),)
    date_hierarchy = "date"
    ordering = ("-date",)
    csv_columns = [(name, attrgetter(name)) for name in ("date", *_STATISTIC_FIGURES)]

    @admin.display(description="day (UTC)", ordering="date")
    def day(self, row: PaymentStatistic) -> SafeString:
        """Links to that day's splits (the splits list's date hierarchy; days are UTC on both sides)."""
        query = urlencode(
            {"created_at__year": row.date.year, "created_at__month": row.date.month, "created_at__day": row.date.day}
        )
        return format_html('<a href="{}?{}">{}</a>', reverse("admin:payments_paymentsplit_changelist"), query, row.date)


@admin.register(TopTipRecipient)
class TopTipRecipientAdmin(ConsoleViewAdmin):
    list_display = (
        "rank",
        "recipient",
        "total_tips_received",
        "total_tips_count",
        "average_tip_amount",
        "first_tip_received_at",
        "last_tip_received_at",
        "tips_link",
    )
    list_filter = (("last_tip_received_at", admin.DateFieldListFilter),)
    search_fields = ("recipient_username",)
    date_hierarchy = "last_tip_received_at"
    ordering = ("rank",)
    csv_columns = [
        ("rank", lambda r: r.rank),
        ("recipient_username", lambda r: r.recipient_username),
        ("total_tips_received", lambda r: r.total_tips_received),
        ("total_tips_count", lambda r: r.total_tips_count),
        ("average_tip_amount", lambda r: r.average_tip_amount),
        ("first_tip_received_at", lambda r: _iso(r.first_tip_received_at)),
        ("last_tip_received_at", lambda r: _iso(r.last_tip_received_at)),
    ]

    @admin.display(description="recipient", ordering="recipient_username")
    def recipient(self, row: TopTipRecipient) -> SafeString:
        """To the staff the name belongs to (the staff list searched by it: a name can be staff at more
        than one merchant)."""
        url = reverse("admin:payments_staff_changelist") + "?" + urlencode({"q": row.recipient_username})
        return format_html('<a href="{}">@{}</a>', url, row.recipient_username)

    @admin.display(description="tip legs")
    def tips_link(self, row: TopTipRecipient) -> SafeString:
        url = reverse("admin:payments_paymentleg_changelist") + "?" + urlencode({"q": row.recipient_username})
        return format_html('<a href="{}">transfers →</a>', url)


# The console's own pages, in front of the admin's URLs (``console/`` then answers before the admin's
# app index for this app label). Replacing the bound method on the default site, as blinkpos/admin.py
# does for the index, works because the site builds its URL list when the URLconf loads, after
# autodiscovery imported this module.
_default_get_urls = admin.site.get_urls


def _get_urls_with_console() -> list[URLResolver | URLPattern]:
    return [*urls.urlpatterns(), *_default_get_urls()]


admin.site.get_urls = _get_urls_with_console  # type: ignore[method-assign]
