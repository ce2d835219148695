"""Forms of the merchant dashboard. Choices that point at rows (staff, profiles) are limited to the
merchant's own, so another merchant's id is an invalid choice (a 400 naming the field), not a leak."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings

from payments.models import Merchant, PayCodeKind, SplitProfile, SplitStatus, Staff, Terminal
from payments.models.refunds import REASON_MAX_CHARS


class TransactionFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "any status"), *SplitStatus.choices])
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    staff = forms.ModelChoiceField(required=False, queryset=Staff.objects.none(), empty_label="any staff")
    q = forms.CharField(required=False, max_length=100, label="search")

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = Staff.objects.filter(merchant=merchant)  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "must be on or after the start date")
        return data


class PeriodForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class DayForm(forms.Form):
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class InvoiceForm(forms.Form):
    """The web POS sale. Amount in sats or in the display currency; tip as a percent (preset or custom)
    or none; optionally one staff member or one split profile gets the tip."""

    unit = forms.ChoiceField(choices=[("sats", "sats"), ("display", "display currency")])
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_digits=20, decimal_places=8)
    tip_percent = forms.DecimalField(required=False, min_value=0, max_value=100, max_digits=5, decimal_places=2)
    staff = forms.ModelChoiceField(required=False, queryset=Staff.objects.none())
    split_profile = forms.ModelChoiceField(required=False, queryset=SplitProfile.objects.none())
    memo = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = Staff.objects.filter(merchant=merchant, is_active=True)  # type: ignore[attr-defined]
        self.fields["split_profile"].queryset = SplitProfile.objects.filter(  # type: ignore[attr-defined]
            merchant=merchant, is_active=True
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("staff") and data.get("split_profile"):
            self.add_error("split_profile", "choose a staff member or a split profile, not both")
        amount = data.get("amount")
        if data.get("unit") == "sats" and amount is not None and amount != amount.to_integral_value():
            self.add_error("amount", "sats are whole numbers")
        return data


class MerchantSettingsForm(forms.Form):
    display_currency = forms.ChoiceField(choices=[])
    tip_presets = forms.CharField(
        max_length=60, help_text="Tip percents offered at the POS, comma separated (e.g. 10, 15, 20)"
    )
    absorbs_payout_fees = forms.BooleanField(
        required=False,
        label="I pay the Lightning routing fees",
        help_text="Staff paid at a Lightning address receive their whole tip; the routing fee comes out of "
        "your base amount. Unticked: each tip pays its own fee (shown on the statement).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["display_currency"].choices = [(c, c) for c in settings.SUPPORTED_DISPLAY_CURRENCIES]  # type: ignore[attr-defined]

    def clean_tip_presets(self) -> list[int]:
        raw = [p.strip().rstrip("%") for p in self.cleaned_data["tip_presets"].split(",") if p.strip()]
        try:
            presets = [int(p) for p in raw]
        except ValueError:
            raise forms.ValidationError("whole percents only, e.g. 10, 15, 20") from None
        if not 1 <= len(presets) <= 6:
            raise forms.ValidationError("between one and six presets")
        if any(not 0 < p <= 100 for p in presets):
            raise forms.ValidationError("each preset must be between 1 and 100")
        return presets


class StaffForm(forms.Form):
    display_name = forms.CharField(max_length=120)
    payout_destination = forms.CharField(
        max_length=255,
        label="Blink username or Lightning address",
        help_text="A Blink username (tips go to its wallet) or any Lightning address, e.g. name@walletofsatoshi.com",
    )


class StaffPayoutForm(forms.Form):
    payout_destination = forms.CharField(max_length=255, label="Blink username or Lightning address")


class MerchantPayoutForm(forms.Form):
    lightning_address = forms.CharField(
        max_length=255,
        required=False,
        label="Lightning address for base amounts",
        help_text="Empty: your Blink wallet. Any Lightning address (name@domain) otherwise.",
    )


class SplitProfileForm(forms.Form):
    """A team profile: a name and a percent per staff member (summing to 100, stored as basis points)."""

    name = forms.CharField(max_length=120)

    def __init__(self, *args: Any, merchant: Merchant, profile: SplitProfile | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = list(Staff.objects.filter(merchant=merchant, is_active=True))
        current = {s.staff_id: s.weight_bps for s in profile.shares.all()} if profile else {}
        if profile is not None:
            self.fields["name"].initial = profile.name
        for staff in self.staff:
            self.fields[f"share_{staff.pk}"] = forms.DecimalField(
                required=False,
                min_value=0,
                max_value=100,
                decimal_places=2,
                label=f"{staff.display_name} %",
                initial=Decimal(current[staff.pk]) / 100 if staff.pk in current else None,
            )

    def share_fields(self) -> list[forms.BoundField]:
        return [self[f"share_{s.pk}"] for s in self.staff]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        shares: list[tuple[Staff, int]] = []
        for staff in self.staff:
            percent = data.get(f"share_{staff.pk}")
            if percent:
                shares.append((staff, int(percent * 100)))
        total = sum(weight for _, weight in shares)
        if not shares:
            raise forms.ValidationError("give at least one staff member a share")
        if total != 10_000:
            raise forms.ValidationError(f"shares must add up to 100% (now {Decimal(total) / 100}%)")
        data["shares"] = shares
        return data


class TerminalForm(forms.Form):
    name = forms.CharField(max_length=120)


class ApiKeyForm(forms.Form):
    # Write-only: never rendered back (render_value=False) and never shown after it is stored.
    api_key = forms.CharField(
        label="Blink API key",
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class ReceiptDetailsForm(forms.Form):
    receipt_address = forms.CharField(
        required=False,
        max_length=300,
        label="Address on receipts",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Up to 4 lines, printed under your name.",
    )
    receipt_footer = forms.CharField(
        required=False, max_length=200, label="Closing line", help_text="e.g. Thank you! VAT no. 123"
    )


class CashierPinForm(forms.Form):
    """A staff member's PIN on one terminal (per staff member per terminal)."""

    terminal = forms.ModelChoiceField(queryset=Terminal.objects.none())
    staff = forms.ModelChoiceField(queryset=Staff.objects.none())
    pin = forms.RegexField(
        regex=r"^[0-9]{4,8}$",
        label="PIN",
        error_messages={"invalid": "4 to 8 digits."},
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    can_refund = forms.BooleanField(required=False, label="May refund sales")

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["terminal"].queryset = Terminal.objects.filter(merchant=merchant, revoked_at__isnull=True)  # type: ignore[attr-defined]
        self.fields["staff"].queryset = Staff.objects.filter(merchant=merchant, is_active=True)  # type: ignore[attr-defined]


class CashierTerminalForm(forms.Form):
    terminal = forms.RegexField(
        regex=r"^[0-9a-f]{8}$",
        label="Terminal code",
        error_messages={"invalid": "The 8-character code shown in the merchant's settings."},
    )


class CashierPinSignInForm(forms.Form):
    staff = forms.TypedChoiceField(coerce=int, choices=[], label="Who are you?")
    pin = forms.RegexField(
        regex=r"^[0-9]{4,8}$",
        label="PIN",
        error_messages={"invalid": "4 to 8 digits."},
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, staff_choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].choices = staff_choices  # type: ignore[attr-defined]


class CashierKeySignInForm(forms.Form):
    key = forms.CharField(
        max_length=100,
        label="Terminal API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class ShiftForm(forms.Form):
    since = forms.TimeField(required=False, label="Shift started at", widget=forms.TimeInput(attrs={"type": "time"}))


class RefundForm(forms.Form):
    """A refund of a completed sale. Empty amount: everything still refundable."""

    amount_sats = forms.IntegerField(
        required=False, min_value=1, label="Amount (sats)", help_text="Empty: everything still refundable."
    )
    tip_refunded = forms.BooleanField(
        required=False,
        label="Refund the tip too",
        help_text="The staff keep what they were paid; their share is deducted from their next tips.",
    )
    reason = forms.CharField(max_length=REASON_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2}))
    # One refund per rendered form, however often it is sent (dashboard/refund_submit.py).
    form_key = forms.RegexField(
        regex=r"^[A-Za-z0-9_-]{16,64}$",
        widget=forms.HiddenInput,
        error_messages={
            "required": "This form was out of date: check it and send it again.",
            "invalid": "This form was out of date: check it and send it again.",
        },
    )


class RefundPayoutForm(forms.Form):
    """Pay a funded refund to the customer's invoice or Lightning address instead of the claim QR."""

    payment_request = forms.CharField(required=False, max_length=4000, label="Customer's invoice (bolt11)")
    address = forms.CharField(required=False, max_length=255, label="or their Lightning address")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("payment_request")) == bool(data.get("address")):
            self.add_error("payment_request", "Give an invoice or a Lightning address (one of them).")
        return data


class PayCodeForm(forms.Form):
    """A static pay code: for the merchant (a sale with no tip), one staff member or a team (tips)."""

    kind = forms.ChoiceField(choices=PayCodeKind.choices)
    username = forms.CharField(
        max_length=64, label="name", help_text="The part before @ in the address: a-z, 0-9, '-', '_', '.'."
    )
    staff = forms.ModelChoiceField(required=False, queryset=Staff.objects.none(), label="staff member (staff code)")
    split_profile = forms.ModelChoiceField(
        required=False, queryset=SplitProfile.objects.none(), label="split profile (team code)"
    )
    min_sendable_sats = forms.IntegerField(required=False, min_value=1, label="minimum (sats)")
    max_sendable_sats = forms.IntegerField(required=False, min_value=1, label="maximum (sats)")

    def __init__(self, *args: Any, merchant: Merchant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = Staff.objects.filter(merchant=merchant, is_active=True)  # type: ignore[attr-defined]
        self.fields["split_profile"].queryset = SplitProfile.objects.filter(  # type: ignore[attr-defined]
            merchant=merchant, is_active=True
        )
