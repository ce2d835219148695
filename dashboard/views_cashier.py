"""The cashier's view (``/cashier/``): a terminal session without the owner's credentials.

Sign in with a staff member's PIN on a terminal (``/cashier/login/?terminal=<code>``, the code being
the terminal key's 8-character prefix shown in the settings) or with the terminal's API key alone.
Then: today's sales on THIS terminal with their status and receipt links (show, print, QR for the
customer), and the shift close summary. Nothing from other terminals, no settings; a refund control
only when the merchant granted it on the PIN or the terminal (``views_cashier_refunds`` serves it).
docs/ARCHITECTURE.md, Receipts and the cashier's view.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from blinkpos import auth_throttle
from dashboard.cashier_access import Cashier, cashier_end, cashier_required, cashier_start
from dashboard.forms import CashierKeySignInForm, CashierPinSignInForm, CashierTerminalForm, ShiftForm
from payments import terminal_keys
from payments.models import CashierPin, Terminal
from payments.receipts.document import RECEIPT_STATUSES
from payments.services.cashier_pins import CashierPinLocked, CashierPinRefused, cashier_pin_verify
from payments.services.receipts import receipt_token_ensure
from payments.terminal_shift import MAX_LISTED_SALES, shift_summary, terminal_sales, today_bounds

SCOPE = "cashier"  # failed sign-ins per client address (blinkpos.auth_throttle)
MODE_PIN, MODE_KEY = "pin", "key"


def _terminal_by_code(code: str) -> Terminal | None:
    return Terminal.objects.filter(key_prefix=code, revoked_at__isnull=True, merchant__is_active=True).first()


def _staff_choices(terminal: Terminal) -> list[tuple[int, str]]:
    pins = CashierPin.objects.filter(terminal=terminal, staff__is_active=True).select_related("staff")
    return sorted(((p.staff_id, p.staff.display_name) for p in pins), key=lambda choice: choice[1])


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    context.setdefault("key_form", CashierKeySignInForm())
    return render(request, "dashboard/cashier_login.html", context, status=status)


def _failed(request: HttpRequest, form: forms.Form, field: str, message: str, **context: Any) -> HttpResponse:
    auth_throttle.record_failure(SCOPE, auth_throttle.client_ip(request))
    form.add_error(field, message)
    return _page(request, status=400, **context)


@never_cache
@require_http_methods(["GET", "POST"])
def cashier_login(request: HttpRequest) -> HttpResponse:
    ip = auth_throttle.client_ip(request)
    if auth_throttle.blocked(SCOPE, ip):
        return auth_throttle.too_many_response(json=False, scope=SCOPE)
    code_form = CashierTerminalForm(request.GET if "terminal" in request.GET else None)
    terminal = None
    if code_form.is_bound:
        if not code_form.is_valid():
            return _page(request, status=400, code_form=code_form)
        terminal = _terminal_by_code(code_form.cleaned_data["terminal"])
        if terminal is None:
            return _failed(request, code_form, "terminal", "No active terminal has this code.", code_form=code_form)
    if request.method == "POST" and request.POST.get("mode") == MODE_KEY:
        return _sign_in_with_key(request, code_form)
    if terminal is None:
        if request.method == "POST":  # a PIN sign-in needs the terminal: the form carries it in its URL
            code_form = CashierTerminalForm({"terminal": ""})
            code_form.is_valid()  # "terminal: this field is required", under the field
            return _page(request, status=400, code_form=code_form)
        return _page(request, code_form=code_form)
    pin_form = CashierPinSignInForm(
        request.POST if request.method == "POST" else None, staff_choices=_staff_choices(terminal)
    )
    context: dict[str, Any] = {"code_form": code_form, "terminal": terminal, "pin_form": pin_form}
    if request.method == "GET":
        return _page(request, **context)
    if not pin_form.is_valid():
        return _page(request, status=400, **context)
    try:
        pin = cashier_pin_verify(
            terminal=terminal, staff_id=pin_form.cleaned_data["staff"], pin=pin_form.cleaned_data["pin"]
        )
    except CashierPinLocked as exc:
        pin_form.add_error("pin", exc.message)
        response = _page(request, status=429, **context)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except CashierPinRefused as exc:
        return _failed(request, pin_form, "pin", exc.message, **context)
    cashier_start(request, terminal=terminal, pin=pin)
    return redirect("dashboard:cashier")


def _sign_in_with_key(request: HttpRequest, code_form: CashierTerminalForm) -> HttpResponse:
    key_form = CashierKeySignInForm(request.POST)
    context = {"code_form": code_form, "key_form": key_form}
    if not key_form.is_valid():
        return _page(request, status=400, **context)
    key = key_form.cleaned_data["key"].strip()
    prefix = terminal_keys.parse_prefix(key)
    terminal = _terminal_by_code(prefix) if prefix else None
    if terminal is None or not hmac.compare_digest(terminal.key_hash, terminal_keys.hash_key(key)):
        return _failed(request, key_form, "key", "Invalid or revoked terminal API key.", **context)
    cashier_start(request, terminal=terminal, pin=None)
    return redirect("dashboard:cashier")


@require_POST
def cashier_logout(request: HttpRequest) -> HttpResponse:
    cashier_end(request)
    return redirect("dashboard:cashier-login")


@never_cache
@require_GET
@cashier_required
def cashier_sales(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    since, until = today_bounds()
    sales = list(terminal_sales(terminal_id=cashier.terminal.pk, since=since, until=until)[:MAX_LISTED_SALES])
    for split in sales:
        if split.status in RECEIPT_STATUSES and not split.receipt_token:
            receipt_token_ensure(split=split)  # rows written by raw SQL have none yet
    context = {"cashier": cashier, "sales": sales, "receipt_statuses": RECEIPT_STATUSES, "cashier_nav": "sales"}
    return render(request, "dashboard/cashier_sales.html", context)


@never_cache
@require_GET
@cashier_required
def cashier_summary(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    form = ShiftForm(request.GET or None)
    context: dict[str, Any] = {"cashier": cashier, "form": form, "cashier_nav": "summary"}
    if form.is_bound and not form.is_valid():
        return render(request, "dashboard/cashier_summary.html", context, status=400)
    start_of_day, _ = today_bounds()
    since = start_of_day
    shift_start = form.cleaned_data.get("since") if form.is_bound else None
    if shift_start is not None:
        since = timezone.make_aware(datetime.combine(start_of_day.date(), shift_start))
        if since > timezone.now():
            form.add_error("since", "Must not be in the future.")
            return render(request, "dashboard/cashier_summary.html", context, status=400)
    context["summary"] = shift_summary(terminal=cashier.terminal, since=since, until=timezone.now())
    return render(request, "dashboard/cashier_summary.html", context)
