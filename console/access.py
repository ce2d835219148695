"""Who may open the console: staff who passed the admin's checks (second factor included) **and** hold
the dedicated permission ``console.view_console`` (superusers hold every permission)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

PERMISSION = "console.view_console"

View = Callable[..., HttpResponse]


def can_use_console(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm(PERMISSION))


def console_view(view: View) -> View:
    """The admin site's own gate first (not signed in or no second factor: its sign-in page), then the
    permission (signed-in staff without it: 403)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_use_console(request):
            raise PermissionDenied("The operators' console needs the console.view_console permission.")
        return view(request, *args, **kwargs)

    return admin.site.admin_view(guarded)


def context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    """The admin's page context (site header, user tools, sidebar) plus the page's own values."""
    return {**admin.site.each_context(request), "title": title, **extra}
