"""The signed-in staff user's two-factor page under the admin: add an authenticator (QR of its otpauth
URI, active only after a current code confirms it) and replace the recovery codes.

Reached through ``admin_view`` (staff, second factor satisfied, CSRF, never cached). New recovery codes
exist only in the one response that shows them.
"""

from __future__ import annotations

from typing import Any

import segno
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django_otp import login as otp_login

from blinkpos.operator_otp import devices
from blinkpos.operator_otp.forms import ConfirmAuthenticatorForm

TEMPLATE = "operator_otp/two_factor.html"


def two_factor(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    user = request.user
    assert user.is_authenticated  # admin_view lets only signed-in staff through
    form = ConfirmAuthenticatorForm()
    new_codes: list[str] = []
    confirmed = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "confirm":
            form = ConfirmAuthenticatorForm(request.POST)
            if form.is_valid():
                confirmed = devices.totp_device_confirm(
                    user=user, token=form.cleaned_data["otp_token"], name=form.cleaned_data["name"]
                )
                if confirmed is None:
                    form.add_error("otp_token", "That code was not accepted. Enter the code the app shows now.")
            if confirmed is None:
                status = 400
            else:
                # This session has just proven the new authenticator: it stays signed in to the admin.
                otp_login(request, confirmed)
                if not devices.recovery_codes_left(user=user):
                    new_codes = devices.recovery_codes_replace(user=user)
                form = ConfirmAuthenticatorForm()
        elif action == "recovery":
            if not devices.totp_devices_confirmed(user=user):
                # Recovery codes alone would lock this unverified session out; they come with an authenticator.
                return HttpResponse("action: add an authenticator first", status=400, content_type="text/plain")
            new_codes = devices.recovery_codes_replace(user=user)
        else:
            return HttpResponse("action: must be 'confirm' or 'recovery'", status=400, content_type="text/plain")
    context = {**site.each_context(request), **_page(user, form), "new_codes": new_codes, "confirmed": confirmed}
    return TemplateResponse(request, TEMPLATE, context, status=status)


def _page(user: Any, form: ConfirmAuthenticatorForm) -> dict[str, Any]:
    pending = devices.totp_device_pending(user=user)
    qr = segno.make(pending.config_url, error="m")
    return {
        "title": "Two-factor sign-in",
        "authenticators": devices.totp_devices_confirmed(user=user),
        "recovery_left": devices.recovery_codes_left(user=user),
        "qr_data_uri": qr.svg_data_uri(scale=4, dark="#000", light="#fff"),
        "secret": devices.totp_secret(pending),
        "form": form,
    }
