"""Clocking in and out from the web pages: the web POS's shift panel and the cashier's view.

The web POS's shift panel: which terminal group this POS stands in (kept in the session: the web POS
is no terminal device) and a "Clock in/out" control where staff enter their cashier PIN.

The PIN is the staff member's cashier PIN of a terminal in that group, with its lockout
(``payments.services.shifts.pos_pin_verify``). Sales made here while the group has an open shift have
their tips pooled (merchant in pooled mode). A cashier signed in with their PIN on a terminal clocks
in and out on that terminal's group with one button (the session already proved the PIN).
docs/ARCHITECTURE.md, Shifts and pooled tips.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.access import merchant_required
from dashboard.cashier_access import Cashier, cashier_required
from payments.models import ClockEntry, Merchant, TerminalGroup
from payments.services.shifts import clock_toggle, group_of_terminal, open_shift_of_group, pos_pin_verify

SESSION_KEY = "pos_group_id"


def pos_group(request: HttpRequest, merchant: Merchant) -> TerminalGroup | None:
    group_id = request.session.get(SESSION_KEY)
    if not isinstance(group_id, int):
        return None
    return TerminalGroup.objects.filter(pk=group_id, merchant=merchant).first()


def shift_panel(request: HttpRequest, merchant: Merchant) -> dict[str, Any]:
    """The POS page's shift panel context (empty when the merchant has no terminal group)."""
    groups = list(TerminalGroup.objects.filter(merchant=merchant))
    if not groups:
        return {}
    group = pos_group(request, merchant)
    shift = open_shift_of_group(group) if group is not None else None
    on_shift = (
        list(ClockEntry.objects.filter(shift=shift, clock_out_at__isnull=True).select_related("staff"))
        if shift is not None
        else []
    )
    return {
        "groups": groups,
        "group": group,
        "shift": shift,
        "on_shift": on_shift,
        "pooled": merchant.tip_mode == "pooled",
    }


def _as_int(value: str | None) -> object:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return value


@require_POST
@merchant_required
def pos_group_set(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    group_id = _as_int(request.POST.get("group_id"))
    if group_id is None:
        request.session.pop(SESSION_KEY, None)
    elif isinstance(group_id, int) and TerminalGroup.objects.filter(pk=group_id, merchant=merchant).exists():
        request.session[SESSION_KEY] = group_id
    else:
        messages.error(request, "group_id: choose one of your groups.")
        return redirect("dashboard:pos")
    return redirect("dashboard:pos")


@require_POST
@merchant_required
def pos_clock(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    group = pos_group(request, merchant)
    if group is None:
        messages.error(request, "group_id: choose this POS's group first.")
        return redirect("dashboard:pos")
    staff_id = _as_int(request.POST.get("staff_id"))
    try:
        pos_pin_verify(merchant=merchant, group=group, staff_id=staff_id, pin=request.POST.get("pin"))
        result = clock_toggle(merchant=merchant, group=group, staff_id=staff_id, source="pos")
    except USER_ERRORS as exc:
        for name, errors in user_error_fields(exc).items():
            messages.error(request, f"{name}: {' '.join(errors)}")
        return redirect("dashboard:pos")
    name = result.entry.staff.display_name
    messages.success(request, f"{name} clocked {'in' if result.clocked_in else 'out'}.")
    return redirect("dashboard:pos")


@require_POST
@cashier_required
def cashier_clock(request: HttpRequest, cashier: Cashier) -> HttpResponse:
    if cashier.staff is None:
        messages.error(request, "staff: sign in with your PIN to clock in or out.")
        return redirect("dashboard:cashier")
    try:
        group = group_of_terminal(cashier.terminal)
        result = clock_toggle(merchant=cashier.terminal.merchant, group=group, staff_id=cashier.staff.pk, source="pos")
    except USER_ERRORS as exc:
        for name, errors in user_error_fields(exc).items():
            messages.error(request, f"{name}: {' '.join(errors)}")
        return redirect("dashboard:cashier")
    messages.success(request, f"{cashier.staff.display_name} clocked {'in' if result.clocked_in else 'out'}.")
    return redirect("dashboard:cashier")
