"""The merchant's side of staff self-service (``/settings/staff-access/``): the staff code, each staff
member's sign-in email and PIN, sending a sign-in link, and signing someone out everywhere. Every write
is a ``payments.services.staff_access`` call; a refused input is a 400 naming its field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.access import merchant_required
from dashboard.forms_staff import StaffLoginForm, StaffPickForm
from dashboard.views_staff_signin import link_url
from payments.models import Merchant, Staff, StaffLogin
from payments.services.staff_access import (
    staff_link_for_merchant,
    staff_link_send,
    staff_login_update,
    staff_portal_get_or_create,
    staff_sessions_end,
)


def _page(request: HttpRequest, merchant: Merchant, status: int = 200, **forms_: forms.Form) -> HttpResponse:
    logins = {login.staff_id: login for login in StaffLogin.objects.filter(staff__merchant=merchant)}
    staff = Staff.objects.filter(merchant=merchant, is_active=True).order_by("display_name")
    context: dict[str, Any] = {
        "nav": "settings",
        "portal": staff_portal_get_or_create(merchant=merchant),
        "rows": [(member, logins.get(member.pk)) for member in staff],
        "now": timezone.now(),
        "login_form": StaffLoginForm(merchant=merchant),
        "link_form": StaffPickForm(merchant=merchant),
        "sign_in_url": request.build_absolute_uri(reverse("dashboard:staff-login")),
    }
    context.update(forms_)
    return render(request, "dashboard/staff_access.html", context, status=status)


def _refused(form: forms.Form, exc: Exception) -> None:
    for field, errors in user_error_fields(exc).items():  # type: ignore[arg-type]
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@require_GET
@merchant_required
def staff_access(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _page(request, merchant)


@require_POST
@merchant_required
def staff_login_save(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = StaffLoginForm(request.POST, merchant=merchant)
    if form.is_valid():
        try:
            staff_login_update(
                merchant=merchant,
                staff_id=form.cleaned_data["staff"],
                email=form.email_change(),
                pin=form.cleaned_data["pin"] or "",
                remove_pin=form.cleaned_data["remove_pin"],
            )
        except USER_ERRORS as exc:
            _refused(form, exc)
        else:
            messages.success(request, "Sign-in details saved.")
            return redirect("dashboard:staff-access")
    return _page(request, merchant, status=400, login_form=form)


@require_POST
@merchant_required
def staff_link_send_view(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = StaffPickForm(request.POST, merchant=merchant)
    if form.is_valid():
        try:
            link = staff_link_for_merchant(merchant=merchant, staff_id=form.cleaned_data["staff"])
        except USER_ERRORS as exc:
            _refused(form, exc)
            status = getattr(exc, "http_status", 400)
            return _page(request, merchant, status=status, link_form=form)
        staff_link_send(link=link, url=link_url(request, link.token))
        messages.success(request, f"Sign-in link sent to {link.staff.display_name}.")
        return redirect("dashboard:staff-access")
    return _page(request, merchant, status=400, link_form=form)


@require_POST
@merchant_required
def staff_sign_out(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    form = StaffPickForm(request.POST, merchant=merchant)
    if not form.is_valid():
        return _page(request, merchant, status=400, link_form=form)
    staff_sessions_end(merchant=merchant, staff_id=form.cleaned_data["staff"])
    messages.success(request, "Signed out everywhere.")
    return redirect("dashboard:staff-access")
