"""Forms of staff self-service: the staff sign-in (PIN with the merchant's code, or an email link) and
the merchant's settings for it. Staff choices are limited to the merchant's own active staff, so another
merchant's id is an invalid choice (a 400 naming the field)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from payments.models import Merchant, Staff

_PIN = RegexValidator(r"^[0-9]{4,8}$", "4 to 8 digits.")


class StaffPinSignInForm(forms.Form):
    code = forms.CharField(max_length=20, label="Merchant code", help_text="The code your manager gave you")
    name = forms.CharField(max_length=254, label="Your email or Blink username")
    pin = forms.CharField(
        max_length=8, validators=[_PIN], widget=forms.PasswordInput(attrs={"inputmode": "numeric"}), label="PIN"
    )


class StaffLinkTokenForm(forms.Form):
    """The token of a sign-in link (filled in from the link's "#" part by staff-link.js)."""

    token = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"id": "staff-link-token"}))


class StaffLinkRequestForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Your email")


def _staff_choices(merchant: Merchant) -> list[tuple[int, str]]:
    return list(Staff.objects.filter(merchant=merchant, is_active=True).values_list("pk", "display_name"))


class StaffLoginForm(forms.Form):
    """The merchant sets a staff member's sign-in email and PIN. Left empty, either keeps what the person
    has; the check boxes remove them."""

    staff = forms.TypedChoiceField(coerce=int, choices=[])
    email = forms.EmailField(max_length=254, required=False, label="Sign-in email")
    remove_email = forms.BooleanField(required=False, label="Remove the email")
    pin = forms.CharField(max_length=8, required=False, validators=[_PIN], widget=forms.PasswordInput, label="New PIN")
    remove_pin = forms.BooleanField(required=False, label="Remove the PIN")

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = _staff_choices(merchant)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("email") and data.get("remove_email"):
            self.add_error("email", "Either set an email or remove it, not both.")
        return data

    def email_change(self) -> str | None:
        """What the service gets: None keeps the email, "" removes it."""
        if self.cleaned_data.get("remove_email"):
            return ""
        return self.cleaned_data.get("email") or None


class StaffPickForm(forms.Form):
    """One of the merchant's active staff (send a sign-in link, sign out everywhere)."""

    staff = forms.TypedChoiceField(coerce=int, choices=[])

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "pick_%s")  # the settings page shows it beside StaffLoginForm
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = _staff_choices(merchant)  # type: ignore[attr-defined]
