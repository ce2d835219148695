"""The books reconciliation in the back office, read-only: the runs (newest first) with their
differences inline, every difference filterable by kind and status, the mirrored Blink transactions and
the checkpoint. What each kind means and what to do about it: README, "Books reconciliation"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from payments.admin.common import ReadOnlyAdmin, ReadOnlyTabularInline, short_hash
from payments.models import BooksCheckpoint, BooksDifference, BooksRun, BooksTransaction

_DIFFERENCE_COLUMNS = (
    "kind",
    "key",
    "status",
    "expected_sats",
    "actual_sats",
    "delta",
    "split",
    "leg",
    "first_seen_at",
    "detail",
)


def _ok_badge(ok: bool | None) -> SafeString:
    if ok is None:
        return format_html('<span class="bp-badge bp-muted">{}</span>', "—")
    tone, text = ("ok", "agrees") if ok else ("bad", "differs")
    return format_html('<span class="bp-badge bp-{}">{}</span>', tone, text)


class _DifferenceInline(ReadOnlyTabularInline):
    model = BooksDifference
    fields = _DIFFERENCE_COLUMNS
    readonly_fields = _DIFFERENCE_COLUMNS
    show_change_link = True

    @admin.display(description="actual - expected (sats)")
    def delta(self, obj: BooksDifference) -> int | None:
        return obj.delta_sats


class SeenInRunInline(_DifferenceInline):
    """Every difference this run found: for the latest run, everything still open."""

    fk_name = "last_run"
    verbose_name_plural = "differences last seen in this run"


class ClosedInRunInline(_DifferenceInline):
    fk_name = "closed_run"
    verbose_name_plural = "differences this run no longer found (closed)"


@admin.register(BooksRun)
class BooksRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "status",
        "agrees",
        "differences",
        "new_differences",
        "closed_differences",
        "transactions_walked",
        "balance_expected",
        "balance_actual",
        "platform_account",
    )
    list_filter = ("status", "ok", "platform_account", ("started_at", admin.DateFieldListFilter))
    date_hierarchy = "started_at"
    inlines = (SeenInRunInline, ClosedInRunInline)
    fieldsets = (
        (None, {"fields": ("status", "ok", "started_at", "finished_at", "error", "note")}),
        (
            "Range walked",
            {
                "fields": (
                    "from_checkpoint_tx_id",
                    "newest_tx_id",
                    "oldest_tx_id",
                    "checkpoint_tx_id",
                    "pages",
                    "transactions_walked",
                    ("receives", "received_sats"),
                    ("sends", "sent_sats", "fees_sats"),
                )
            },
        ),
        ("Balance", {"fields": ("balance_expected", "balance_actual", "balance_parts")}),
        ("Differences", {"fields": ("differences", "new_differences", "closed_differences", "by_kind")}),
    )

    @admin.display(description="books", ordering="ok")
    def agrees(self, obj: BooksRun) -> SafeString:
        return _ok_badge(obj.ok)


@admin.register(BooksDifference)
class BooksDifferenceAdmin(ReadOnlyAdmin):
    list_display = (
        "kind",
        "status",
        "key_short",
        "expected_sats",
        "actual_sats",
        "delta",
        "split",
        "leg",
        "platform_account",
        "first_seen_at",
        "last_seen_at",
        "closed_at",
    )
    list_filter = ("kind", "status", "platform_account", ("last_seen_at", admin.DateFieldListFilter))
    search_fields = ("=key", "=payment_hash", "=blink_tx_id")
    list_select_related = ("split", "leg")

    @admin.display(description="key")
    def key_short(self, obj: BooksDifference) -> str:
        return short_hash(obj.key, 24)

    @admin.display(description="actual - expected (sats)")
    def delta(self, obj: BooksDifference) -> int | None:
        return obj.delta_sats


class MatchedFilter(admin.SimpleListFilter):
    title = "matched"
    parameter_name = "matched"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("split", "to a split"), ("leg", "to a leg"), ("none", "to nothing")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "split":
            return queryset.filter(split__isnull=False)
        if self.value() == "leg":
            return queryset.filter(leg__isnull=False)
        if self.value() == "none":
            return queryset.filter(split__isnull=True, leg__isnull=True)
        return queryset


@admin.register(BooksTransaction)
class BooksTransactionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "direction", "status", "amount_sats", "fee_sats", "hash_short", "split", "leg")
    list_filter = (
        "direction",
        "status",
        MatchedFilter,
        "platform_account",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=blink_id", "=payment_hash")
    list_select_related = ("split", "leg")

    @admin.display(description="payment hash")
    def hash_short(self, obj: BooksTransaction) -> str:
        return short_hash(obj.payment_hash)


@admin.register(BooksCheckpoint)
class BooksCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("tx_id", "tx_created_at", "run", "opening_balance_sats", "updated_at")
