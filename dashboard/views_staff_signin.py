"""Staff sign-in (``/staff/login/``): the merchant's staff code with the person's PIN, or a one-time link
by email. Neither answer says whether a name or an address is known. Failed PINs and wrong links are
counted per client address, and so is every link request (``blinkpos.auth_throttle``, scope ``staff``).
docs/ARCHITECTURE.md, Staff self-service and payroll.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from blinkpos import auth_throttle
from dashboard.forms_staff import StaffLinkRequestForm, StaffLinkTokenForm, StaffPinSignInForm
from dashboard.staff_session import staff_end, staff_start
from payments.services.staff_access import (
    StaffPinRefused,
    staff_link_redeem,
    staff_link_send,
    staff_links_for_email,
    staff_pin_verify,
)

SCOPE = "staff"  # failed sign-ins per client address
LINK_SCOPE = "staff:link"  # link requests per client address (the "staff" limits)


def _page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    context.setdefault("pin_form", StaffPinSignInForm())
    context.setdefault("link_form", StaffLinkRequestForm())
    return render(request, "dashboard/staff_login.html", context, status=status)


def _throttled(ip: str, scope: str) -> HttpResponse | None:
    if auth_throttle.blocked(scope, ip):
        return auth_throttle.too_many_response(json=False, scope=SCOPE)
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def staff_login(request: HttpRequest) -> HttpResponse:
    ip = auth_throttle.client_ip(request)
    refused = _throttled(ip, SCOPE)
    if refused is not None:
        return refused
    if request.method == "GET":
        return _page(request)
    form = StaffPinSignInForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, pin_form=form)
    try:
        staff = staff_pin_verify(
            code=form.cleaned_data["code"], name=form.cleaned_data["name"], pin=form.cleaned_data["pin"]
        )
    except StaffPinRefused as exc:
        # A locked PIN answers like a wrong one (StaffPinLocked is a StaffPinRefused): no name is confirmed.
        auth_throttle.record_failure(SCOPE, ip)
        form.add_error("pin", exc.message)
        return _page(request, status=400, pin_form=form)
    staff_start(request, staff=staff)
    return redirect("dashboard:staff-home")


@never_cache
@require_POST
def staff_link_request(request: HttpRequest) -> HttpResponse:
    """Email a sign-in link. The answer is the same whether or not the address belongs to anyone."""
    ip = auth_throttle.client_ip(request)
    refused = _throttled(ip, LINK_SCOPE)
    if refused is not None:
        return refused
    form = StaffLinkRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, link_form=form)
    auth_throttle.record_failure(LINK_SCOPE, ip)  # every request counts: each may send an email
    for link in staff_links_for_email(email=form.cleaned_data["email"]):
        staff_link_send(link=link, url=link_url(request, link.token))
    return _page(request, link_sent=True)


@never_cache
@require_http_methods(["GET", "POST"])
def staff_link(request: HttpRequest) -> HttpResponse:
    """The page a sign-in link opens (``/staff/link/#<token>``): the token is after "#", so it never
    reaches the server or its logs on GET; the page's script puts it in the form, and POST spends it
    (a mail scanner that follows links therefore spends nothing)."""
    ip = auth_throttle.client_ip(request)
    refused = _throttled(ip, SCOPE)
    if refused is not None:
        return refused
    form = StaffLinkTokenForm(request.POST if request.method == "POST" else None)
    if request.method == "GET":
        response = render(request, "dashboard/staff_link.html", {"form": form})
    elif not form.is_valid():
        response = render(request, "dashboard/staff_link.html", {"form": form}, status=400)
    else:
        staff = staff_link_redeem(token=form.cleaned_data["token"].strip())
        if staff is not None:
            staff_start(request, staff=staff)
            return redirect("dashboard:staff-home")
        auth_throttle.record_failure(SCOPE, ip)
        response = render(request, "dashboard/staff_link.html", {"form": form, "refused": True}, status=400)
    # A Referer never carries the "#" part anyway; "same-origin" tells other sites nothing, and unlike
    # "no-referrer" it keeps the form's Origin header, which Django's CSRF check needs (with no-referrer
    # browsers send "Origin: null" and the sign-in is refused).
    response["Referrer-Policy"] = "same-origin"
    return response


def link_url(request: HttpRequest, token: str) -> str:
    """The address mailed to the person: the sign-in page with the token after "#"."""
    return request.build_absolute_uri(reverse("dashboard:staff-link")) + "#" + token


@require_POST
def staff_logout(request: HttpRequest) -> HttpResponse:
    staff_end(request)
    return redirect("dashboard:staff-login")
