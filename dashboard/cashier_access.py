"""The cashier's session: who signed in on which terminal, kept under its own session key.

A cashier signs in with a staff PIN on a terminal or with the terminal's API key
(``views_cashier.cashier_login``). The session holds ids only, and every request checks them again in
PostgreSQL: a revoked terminal, a deactivated merchant or staff member, a changed or removed PIN, or an
expired shift ends the session at once. The sign-in first logs out any dashboard user in the browser,
so a cashier session never carries the owner's login: the dashboard's views stay closed to it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.models import CashierPin, Staff, Terminal

SESSION_KEY = "blinkpos_cashier"


@dataclass(frozen=True, kw_only=True)
class Cashier:
    terminal: Terminal  # with its merchant loaded
    staff: Staff | None  # None: signed in with the terminal key alone
    can_refund: bool
    started_at: datetime

    @property
    def name(self) -> str:
        return self.staff.display_name if self.staff else self.terminal.name


def cashier_start(request: HttpRequest, *, terminal: Terminal, pin: CashierPin | None) -> None:
    """Open a cashier session for ``terminal`` (with ``pin``'s staff member, or the key alone)."""
    logout(request)  # flushes the session: nothing of a previous user survives
    request.session[SESSION_KEY] = {
        "terminal_id": terminal.pk,
        "key_hash": terminal.key_hash,
        "pin_id": pin.pk if pin else None,
        "pin_updated_at": pin.updated_at.isoformat() if pin else None,
        "started_at": timezone.now().isoformat(),
    }
    request.session.set_expiry(settings.CASHIER_SESSION_SECONDS)


def cashier_end(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def current_cashier(request: HttpRequest) -> Cashier | None:
    data: Any = request.session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    started_at = parse_datetime(str(data.get("started_at") or ""))
    if started_at is None or timezone.now() - started_at > timedelta(seconds=settings.CASHIER_SESSION_SECONDS):
        return None
    terminal_id, pin_id = data.get("terminal_id"), data.get("pin_id")
    if not isinstance(terminal_id, int) or not isinstance(pin_id, int | None):
        return None
    terminal = (
        Terminal.objects.select_related("merchant")
        .filter(pk=terminal_id, revoked_at__isnull=True, merchant__is_active=True)
        .first()
    )
    if terminal is None or not hmac.compare_digest(terminal.key_hash, str(data.get("key_hash") or "")):
        return None
    if pin_id is None:
        # The terminal key alone: the terminal's own refund permission, the one its API key has
        # (payments/api/refunds.py); read again on every request, so revoking it takes effect at once.
        return Cashier(terminal=terminal, staff=None, can_refund=terminal.can_refund, started_at=started_at)
    pin = CashierPin.objects.select_related("staff").filter(pk=pin_id, terminal=terminal, staff__is_active=True).first()
    if pin is None or pin.updated_at.isoformat() != data.get("pin_updated_at"):
        return None
    return Cashier(terminal=terminal, staff=pin.staff, can_refund=pin.can_refund, started_at=started_at)


def cashier_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view gets the ``Cashier`` as its second argument; no valid session: to the sign-in page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        cashier = current_cashier(request)
        if cashier is None:
            cashier_end(request)
            return redirect("dashboard:cashier-login")
        return view(request, cashier, *args, **kwargs)

    return wrapper
