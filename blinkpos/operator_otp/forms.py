"""The admin sign-in form with the second factor, and the enrolment form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django_otp import user_has_device

from blinkpos.operator_otp.devices import DEVICE_NAME_MAX, second_factor_verify
from blinkpos.operator_otp.policy import second_factor_required

_CODE_ATTRS = {"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}


class OperatorAuthenticationForm(AdminAuthenticationForm):
    """Username, password and, for an account that needs one, a current authenticator code or an unused
    recovery code, all in one submission. A refusal re-renders the form (200), which the failed sign-in
    throttle counts like a wrong password."""

    otp_token = forms.CharField(
        label="Authenticator code",
        required=False,
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs=_CODE_ATTRS),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        user = self.get_user()
        if user is None:
            return cleaned
        token = str(cleaned.get("otp_token") or "")
        if not user_has_device(user, confirmed=True):
            if second_factor_required(user):
                raise ValidationError(
                    "This account must sign in with an authenticator, and none is enrolled yet. An operator "
                    "enrols one on the server with: manage.py operator_otp USERNAME",
                    code="otp_not_enrolled",
                )
            return cleaned
        if not token:
            raise ValidationError({"otp_token": "Enter the code from your authenticator app or a recovery code."})
        device = second_factor_verify(user=user, token=token)
        if device is None:
            raise ValidationError({"otp_token": "That code was not accepted (wrong, expired or already used)."})
        # django-otp stores the device in the session when the view logs the user in (user_logged_in).
        user.otp_device = device  # type: ignore[attr-defined]
        return cleaned


class ConfirmAuthenticatorForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=DEVICE_NAME_MAX, initial="authenticator", help_text="e.g. the phone it is on"
    )
    otp_token = forms.CharField(
        label="Code from the app", max_length=8, min_length=6, widget=forms.TextInput(attrs=_CODE_ATTRS)
    )

    def clean_otp_token(self) -> str:
        token = "".join(str(self.cleaned_data["otp_token"]).split())
        if not token.isdigit():
            raise ValidationError("Enter the digits your authenticator app shows.")
        return token
