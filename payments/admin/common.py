"""Helpers shared by the back-office admins: read-only bases, status badges and CSV export.

Money never changes through a form here: every admin that shows amounts is view-only, and the few
actions that move money call a service (``payments.services.*``), which locks, checks the transition
table and writes the audit event.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

# CSS classes defined in blinkpos/static/blinkpos/admin.css; colours only, the text says the status.
STATUS_TONES = {
    "pending": "info",
    "paid": "info",
    "processing": "warn",
    "completed": "ok",
    "succeeded": "ok",
    "resolved": "ok",
    "planned": "muted",
    "invoice_ready": "muted",
    "sending": "warn",
    "unknown": "bad",
    "failed": "bad",
    "expired": "muted",
    "cancelled": "muted",
}


def status_badge(status: str) -> SafeString:
    tone = STATUS_TONES.get(status, "muted")
    return format_html('<span class="bp-badge bp-{}">{}</span>', tone, status)


def short_hash(value: str | None, length: int = 12) -> str:
    if not value:
        return "—"
    return value if len(value) <= length else f"{value[:length]}…"


class AdminStylesMixin:
    """Adds the back office stylesheet (status colours, dashboard cards) to an admin's pages."""

    class Media:
        css = {"all": ("blinkpos/admin.css",)}


class ReadOnlyAdmin(AdminStylesMixin, admin.ModelAdmin):
    """A view-only admin: no add, no change, no delete. Used for every model that holds money or audit
    data, so an amount can only change through the services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


Column = tuple[str, Callable[[Any], Any]]


def csv_response(filename: str, columns: Sequence[Column], rows: Iterable[Any]) -> HttpResponse:
    """A CSV download. Cells starting with a formula character are prefixed with a quote so a
    spreadsheet never evaluates a value a customer or a recipient could have chosen."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([name for name, _ in columns])
    for row in rows:
        writer.writerow([safe_cell(get(row)) for _, get in columns])
    return response


def pdf_response(filename: str, pdf: bytes) -> HttpResponse:
    """A PDF download (the twin of ``csv_response``)."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def run_service(request: HttpRequest, modeladmin: admin.ModelAdmin, label: str, call: Callable[[], Any]) -> bool:
    """Run one service call for an admin action and report the outcome as a message.

    The services raise their own error types (illegal transition, not retryable, validation); the
    admin shows any of them to the operator instead of a 500, and logs the failure with its type.
    """
    from django.contrib import messages

    from blinkpos.logging import get_logger

    try:
        call()
    except Exception as exc:  # shown to the operator; the service has already rolled back
        get_logger(__name__).warning("admin_action_failed", action=label, error=type(exc).__name__)
        modeladmin.message_user(request, f"{label}: {exc}", level=messages.ERROR)
        return False
    return True
