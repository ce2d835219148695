"""Shifts and pooled tips in the dashboard: the shifts list (with the pooling setup and a clock for
staff), a shift's page (hours, corrections, the pool and its allocation preview, close and confirm, the
payouts' status with re-open). Every write is a service call (``payments.services.shifts``,
``shift_close``, ``pool_payouts``, ``pool_settings``); a refusal re-renders the page with a 4xx and
the messages keyed by field. docs/ARCHITECTURE.md, Shifts and pooled tips.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from blinkpos.errors import USER_ERRORS, ApplicationError, user_error_fields
from dashboard.access import merchant_required
from payments.models import (
    ClockCorrection,
    ClockEntry,
    Merchant,
    PoolMethod,
    PoolPayout,
    PoolRule,
    Shift,
    ShiftEvent,
    ShiftStatus,
    Staff,
    StaffRole,
    Terminal,
    TerminalGroup,
)
from payments.services import pool_settings
from payments.services.pool_accruals import pool_waiting_sats, shift_pool_sats
from payments.services.pool_payouts import pool_payout_reopen
from payments.services.shift_close import shift_close_confirm, shift_close_preview
from payments.services.shifts import clock_correct, clock_toggle, group_for_merchant, shift_for_merchant


def _int(value: str | None) -> object:
    """A form's number as an int, or the raw text (the service refuses it, naming the field)."""
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _by(request: HttpRequest) -> str:
    return f"merchant:{request.user.pk}"


def _list_context(merchant: Merchant) -> dict[str, Any]:
    shifts = list(Shift.objects.filter(merchant=merchant).select_related("group").order_by("-opened_at")[:50])
    for shift in shifts:
        shift.pool_so_far = shift.pool_sats if shift.pool_sats is not None else shift_pool_sats(shift)  # type: ignore[attr-defined]
    rule = PoolRule.objects.filter(merchant=merchant, group__isnull=True).prefetch_related("tip_outs__role").first()
    return {
        "nav": "shifts",
        "merchant": merchant,
        "shifts": shifts,
        "groups": TerminalGroup.objects.filter(merchant=merchant),
        "roles": StaffRole.objects.filter(merchant=merchant),
        "staff": Staff.objects.filter(merchant=merchant, is_active=True).select_related("role"),
        "terminals": Terminal.objects.filter(merchant=merchant, revoked_at__isnull=True).select_related("group"),
        "clocked_in": set(
            ClockEntry.objects.filter(staff__merchant=merchant, clock_out_at__isnull=True).values_list(
                "staff_id", flat=True
            )
        ),
        "rule": rule,
        "methods": PoolMethod.choices,
        "waiting_sats": pool_waiting_sats(merchant_id=merchant.pk),
    }


def _list_page(
    request: HttpRequest, merchant: Merchant, errors: dict[str, list[str]] | None, status: int
) -> HttpResponse:
    return render(request, "dashboard/shifts.html", {**_list_context(merchant), "errors": errors or {}}, status=status)


def _refused(exc: Exception) -> tuple[dict[str, list[str]], int]:
    status = exc.http_status if isinstance(exc, ApplicationError) else 400
    return user_error_fields(exc), status  # type: ignore[arg-type]


@require_GET
@merchant_required
def shifts(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _list_page(request, merchant, None, 200)


@require_POST
@merchant_required
def clock(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    try:
        group = group_for_merchant(merchant=merchant, group_id=_int(request.POST.get("group_id")))
        result = clock_toggle(
            merchant=merchant, group=group, staff_id=_int(request.POST.get("staff_id")), source="dashboard"
        )
    except USER_ERRORS as exc:
        return _list_page(request, merchant, *_refused(exc))
    name = result.entry.staff.display_name
    messages.success(request, f"{name} clocked {'in' if result.clocked_in else 'out'}.")
    return redirect("dashboard:shifts")


_SETUP = {
    "mode": lambda m, p: pool_settings.tip_mode_set(merchant=m, tip_mode=p.get("tip_mode"), method=p.get("method")),
    "group": lambda m, p: pool_settings.group_add(merchant=m, name=p.get("name")),
    "role": lambda m, p: pool_settings.role_save(merchant=m, name=p.get("name"), weight=_int(p.get("weight"))),
    "tip-out": lambda m, p: pool_settings.tip_out_set(
        merchant=m, role_id=_int(p.get("role_id")), percent_bps=_int(p.get("percent_bps"))
    ),
    "terminal": lambda m, p: pool_settings.terminal_group_set(
        merchant=m, terminal_id=_int(p.get("terminal_id")), group_id=_int(p.get("group_id"))
    ),
    "staff-role": lambda m, p: pool_settings.staff_role_set(
        merchant=m, staff_id=_int(p.get("staff_id")), role_id=_int(p.get("role_id"))
    ),
}


@require_POST
@merchant_required
def pool_setup(request: HttpRequest, merchant: Merchant, what: str) -> HttpResponse:
    action = _SETUP.get(what)
    if action is None:
        raise Http404("No such setting")
    try:
        action(merchant, request.POST)
    except USER_ERRORS as exc:
        return _list_page(request, merchant, *_refused(exc))
    messages.success(request, "Saved.")
    return redirect("dashboard:shifts")


def _detail_page(
    request: HttpRequest,
    merchant: Merchant,
    shift: Shift,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    entries = list(ClockEntry.objects.filter(shift=shift).select_related("staff").order_by("clock_in_at", "pk"))
    context = {
        "nav": "shifts",
        "shift": shift,
        "entries": entries,
        "corrections": ClockCorrection.objects.filter(entry__shift=shift).select_related("entry__staff"),
        "preview": shift_close_preview(merchant=merchant, shift_id=shift.pk)
        if shift.status == ShiftStatus.OPEN
        else None,
        "allocations": shift.allocations.select_related("staff"),
        "payouts": PoolPayout.objects.filter(shift=shift).select_related("staff").order_by("pk"),
        "events": ShiftEvent.objects.filter(shift=shift).order_by("timestamp", "pk")[:200],
        "errors": errors or {},
        "live": shift.status == ShiftStatus.CLOSED,
        # Confirming clocks them out as of the review (shift_close_confirm): the page says so.
        "still_in": [e.staff.display_name for e in entries if e.clock_out_at is None],
    }
    return render(request, "dashboard/shift.html", context, status=status)


def _shift(merchant: Merchant, shift_id: int) -> Shift:
    try:
        return shift_for_merchant(merchant=merchant, shift_id=shift_id)
    except ApplicationError as exc:
        raise Http404("No such shift") from exc


@require_GET
@merchant_required
def shift_detail(request: HttpRequest, merchant: Merchant, shift_id: int) -> HttpResponse:
    return _detail_page(request, merchant, _shift(merchant, shift_id))


@require_POST
@merchant_required
def shift_correct(request: HttpRequest, merchant: Merchant, shift_id: int) -> HttpResponse:
    shift = _shift(merchant, shift_id)
    entry_id = _int(request.POST.get("entry_id"))
    if not isinstance(entry_id, int) or not ClockEntry.objects.filter(pk=entry_id, shift=shift).exists():
        return _detail_page(request, merchant, shift, {"entry_id": ["Choose an entry of this shift."]}, 400)
    try:
        clock_correct(
            merchant=merchant,
            entry_id=entry_id,
            clock_in_at=request.POST.get("clock_in_at"),
            clock_out_at=request.POST.get("clock_out_at"),
            reason=request.POST.get("reason"),
            by=_by(request),
        )
    except USER_ERRORS as exc:
        return _detail_page(request, merchant, shift, *_refused(exc))
    messages.success(request, "Time corrected; the allocation below is recomputed.")
    return redirect("dashboard:shift", shift_id=shift.pk)


@require_POST
@merchant_required
def shift_close(request: HttpRequest, merchant: Merchant, shift_id: int) -> HttpResponse:
    shift = _shift(merchant, shift_id)
    try:
        shift_close_confirm(
            merchant=merchant,
            shift_id=shift.pk,
            fingerprint=request.POST.get("fingerprint"),
            as_of=request.POST.get("as_of"),
            by=_by(request),
        )
    except USER_ERRORS as exc:
        shift.refresh_from_db()
        return _detail_page(request, merchant, shift, *_refused(exc))
    messages.success(request, "Shift closed: each person is being paid their share.")
    return redirect("dashboard:shift", shift_id=shift.pk)


@require_POST
@merchant_required
def payout_reopen(request: HttpRequest, merchant: Merchant, payout_id: int) -> HttpResponse:
    payout = PoolPayout.objects.filter(pk=payout_id, shift__merchant=merchant).first()
    if payout is None:
        raise Http404("No such payout")
    try:
        pool_payout_reopen(merchant=merchant, payout_id=payout.pk, by=_by(request))
    except USER_ERRORS as exc:
        return _detail_page(request, merchant, payout.shift, *_refused(exc))
    messages.success(request, "Payout re-opened: it is tried again now.")
    return redirect("dashboard:shift", shift_id=payout.shift_id)
