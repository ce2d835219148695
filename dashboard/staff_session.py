"""The staff member's session: its own kind, kept under its own session key (like the cashier's,
``dashboard/cashier_access.py``).

A staff member signs in with a one-time email link or with the merchant's staff code and their PIN
(``views_staff_signin``). The session holds ids only, and every request checks them again in
PostgreSQL: a deactivated staff member or merchant, or a changed email or PIN (``session_version``),
ends it at once. The sign-in first logs out any dashboard user in the browser, so a staff session never
carries the owner's login: the merchant's pages send it to their sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.models import Staff, StaffLogin

SESSION_KEY = "blinkpos_staff"


def staff_start(request: HttpRequest, *, staff: Staff) -> None:
    """Open a staff session for ``staff`` (flushing whatever the browser was signed in as)."""
    logout(request)  # flushes the session: nothing of a previous user or cashier survives
    login, _ = StaffLogin.objects.get_or_create(staff=staff)
    request.session[SESSION_KEY] = {
        "staff_id": staff.pk,
        "version": login.session_version,
        "started_at": timezone.now().isoformat(),
    }
    request.session.set_expiry(settings.STAFF_SESSION_SECONDS)


def staff_end(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def current_staff(request: HttpRequest) -> Staff | None:
    data: Any = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    started_at = parse_datetime(str(data.get("started_at") or ""))
    if started_at is None or timezone.now() - started_at > timedelta(seconds=settings.STAFF_SESSION_SECONDS):
        return None
    staff_id, version = data.get("staff_id"), data.get("version")
    if not isinstance(staff_id, int) or not isinstance(version, int):
        return None
    login = (
        StaffLogin.objects.select_related("staff__merchant")
        .filter(staff_id=staff_id, staff__is_active=True, staff__merchant__is_active=True)
        .first()
    )
    if login is None or login.session_version != version:
        return None
    return login.staff


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view gets the signed-in ``Staff`` (merchant loaded) as its second argument; no valid session:
    to the staff sign-in page. Every read goes through this staff member, which keeps staff apart."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        staff = current_staff(request)
        if staff is None:
            staff_end(request)
            return redirect("dashboard:staff-login")
        return view(request, staff, *args, **kwargs)

    return wrapper
