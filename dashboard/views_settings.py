"""Settings: display currency and tip presets, staff, split profiles, terminals, pay codes (and their
posters) and the Blink API key.

Every write is a service call (``payments.services.parties`` / ``.terminals``): the services resolve
usernames at the provider, validate weights and store secrets encrypted. A terminal's key and the API
key are shown once (the key) or never (the API key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from blinkpos.errors import USER_ERRORS, user_error_fields
from dashboard.access import merchant_required
from dashboard.forms import (
    ApiKeyForm,
    CashierPinForm,
    MerchantPayoutForm,
    MerchantSettingsForm,
    PayCodeForm,
    ReceiptDetailsForm,
    SplitProfileForm,
    StaffForm,
    StaffPayoutForm,
    TerminalForm,
)
from dashboard.selectors import staff_get, terminal_get
from payments.admin.common import pdf_response
from payments.models import CashierPin, Merchant, PayCode, SplitProfile, Staff, Terminal
from payments.paycode_links import paycode_address, paycode_lnurl, public_host


def _page(request: HttpRequest, merchant: Merchant, status: int = 200, **forms_: forms.Form) -> HttpResponse:
    where = public_host(request)
    context: dict[str, Any] = {
        "nav": "settings",
        "merchant": merchant,
        "settings_form": MerchantSettingsForm(
            initial={
                "display_currency": merchant.display_currency,
                "tip_presets": ", ".join(str(p) for p in merchant.tip_presets),
                "absorbs_payout_fees": merchant.absorbs_payout_fees,
            }
        ),
        "staff_form": StaffForm(),
        "merchant_payout_form": MerchantPayoutForm(initial={"lightning_address": merchant.lightning_address}),
        "staff_payout_form": StaffPayoutForm(),
        "profile_form": SplitProfileForm(merchant=merchant),
        "terminal_form": TerminalForm(),
        "api_key_form": ApiKeyForm(),
        "receipt_form": ReceiptDetailsForm(
            initial={"receipt_address": merchant.receipt_address, "receipt_footer": merchant.receipt_footer}
        ),
        "pin_form": CashierPinForm(merchant=merchant),
        "now": timezone.now(),
        "pins": CashierPin.objects.filter(terminal__merchant=merchant).select_related("terminal", "staff"),
        "paycode_form": PayCodeForm(merchant=merchant),
        "pay_codes": [
            (code, paycode_address(code, where))
            for code in PayCode.objects.filter(merchant=merchant).select_related("staff", "split_profile")
        ],
        "staff": Staff.objects.filter(merchant=merchant).order_by("-is_active", "display_name"),
        "profiles": SplitProfile.objects.filter(merchant=merchant).prefetch_related("shares__staff"),
        "terminals": Terminal.objects.filter(merchant=merchant).order_by("revoked_at", "name"),
    }
    context.update(forms_)
    return render(request, "dashboard/settings.html", context, status=status)


# Services name their inputs as the API does; the forms name some of them differently.
_FORM_FIELDS = {"staff_id": "staff", "split_profile_id": "split_profile"}


def _apply(
    request: HttpRequest, merchant: Merchant, form_name: str, form: forms.Form, call: Callable[[], Any], done: str
) -> HttpResponse:
    """Validate ``form``, run the service, and either redirect with a message or re-render with the
    errors (400). A service's validation error lands on the field it names."""
    if form.is_valid():
        try:
            call()
        except USER_ERRORS as exc:
            for field, errors in user_error_fields(exc).items():
                for error in errors:
                    field = _FORM_FIELDS.get(field, field)
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, done)
            return redirect("dashboard:settings")
    return _page(request, merchant, status=400, **{form_name: form})


@require_GET
@merchant_required
def settings_page(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    return _page(request, merchant)


@require_POST
@merchant_required
def settings_general(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.parties import merchant_update_settings

    form = MerchantSettingsForm(request.POST)
    return _apply(
        request,
        merchant,
        "settings_form",
        form,
        lambda: merchant_update_settings(
            merchant=merchant,
            display_currency=form.cleaned_data["display_currency"],
            tip_presets=form.cleaned_data["tip_presets"],
            absorbs_payout_fees=form.cleaned_data["absorbs_payout_fees"],
        ),
        "Settings saved.",
    )


@require_POST
@merchant_required
def staff_add(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.parties import staff_create

    form = StaffForm(request.POST)
    return _apply(
        request,
        merchant,
        "staff_form",
        form,
        lambda: staff_create(
            merchant=merchant,
            display_name=form.cleaned_data["display_name"],
            payout_destination=form.cleaned_data["payout_destination"],
        ),
        "Staff member added; their payout destination was checked.",
    )


@require_POST
@merchant_required
def staff_payout(request: HttpRequest, merchant: Merchant, staff_id: int) -> HttpResponse:
    from payments.services.parties import staff_set_payout_destination

    staff = staff_get(merchant=merchant, staff_id=staff_id)
    form = StaffPayoutForm(request.POST)
    return _apply(
        request,
        merchant,
        "staff_payout_form",
        form,
        lambda: staff_set_payout_destination(staff=staff, payout_destination=form.cleaned_data["payout_destination"]),
        f"{staff.display_name}'s tips now go to the checked destination.",
    )


@require_POST
@merchant_required
def merchant_payout(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.parties import merchant_set_payout_address

    form = MerchantPayoutForm(request.POST)
    return _apply(
        request,
        merchant,
        "merchant_payout_form",
        form,
        lambda: merchant_set_payout_address(
            merchant=merchant, lightning_address=form.cleaned_data["lightning_address"]
        ),
        "Payout destination for base amounts saved; it was checked.",
    )


@require_POST
@merchant_required
def staff_remove(request: HttpRequest, merchant: Merchant, staff_id: int) -> HttpResponse:
    from payments.services.parties import staff_deactivate

    staff = staff_get(merchant=merchant, staff_id=staff_id)
    staff_deactivate(staff=staff)
    messages.success(request, f"{staff.display_name} deactivated; past tips and statements are kept.")
    return redirect("dashboard:settings")


@require_POST
@merchant_required
def profile_save(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.parties import split_profile_save

    form = SplitProfileForm(request.POST, merchant=merchant)
    return _apply(
        request,
        merchant,
        "profile_form",
        form,
        lambda: split_profile_save(
            merchant=merchant,
            name=form.cleaned_data["name"],
            shares=form.cleaned_data["shares"],
            # Saving under an existing name replaces that profile's shares.
            profile=SplitProfile.objects.filter(merchant=merchant, name=form.cleaned_data["name"]).first(),
        ),
        "Split profile saved.",
    )


@require_POST
@merchant_required
def terminal_add(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.terminals import terminal_create

    form = TerminalForm(request.POST)
    if not form.is_valid():
        return _page(request, merchant, status=400, terminal_form=form)
    terminal, plain_key = terminal_create(merchant=merchant, name=form.cleaned_data["name"])
    # Shown on this one response only (not stored in the session or a message): reloading loses it.
    return render(
        request,
        "dashboard/terminal_key.html",
        {"nav": "settings", "terminal": terminal, "plain_key": plain_key},
    )


@require_POST
@merchant_required
def terminal_remove(request: HttpRequest, merchant: Merchant, terminal_id: int) -> HttpResponse:
    from payments.services.terminals import terminal_revoke

    terminal = terminal_get(merchant=merchant, terminal_id=terminal_id)
    terminal_revoke(terminal=terminal)
    messages.success(request, f"Terminal “{terminal.name}” revoked; its key no longer works.")
    return redirect("dashboard:settings")


@require_POST
@merchant_required
def terminal_refunds(request: HttpRequest, merchant: Merchant, terminal_id: int) -> HttpResponse:
    """Grant or withdraw a terminal's permission to refund through the API (``allow`` = "1" or "0")."""
    from payments.services.terminals import terminal_set_can_refund

    terminal = terminal_get(merchant=merchant, terminal_id=terminal_id)
    allow = request.POST.get("allow")
    if allow not in ("0", "1") or terminal.revoked_at is not None:
        return HttpResponse("allow must be 0 or 1, for an active terminal", status=400, content_type="text/plain")
    terminal_set_can_refund(terminal=terminal, can_refund=allow == "1")
    verb = "may now refund" if allow == "1" else "may no longer refund"
    messages.success(request, f"Terminal “{terminal.name}” {verb} sales.")
    return redirect("dashboard:settings")


@require_POST
@merchant_required
def api_key_set(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.parties import merchant_set_api_key

    form = ApiKeyForm(request.POST)
    return _apply(
        request,
        merchant,
        "api_key_form",
        form,
        lambda: merchant_set_api_key(merchant=merchant, api_key=form.cleaned_data["api_key"]),
        "Blink API key stored (encrypted). It will not be shown again.",
    )


@require_POST
@merchant_required
def receipt_details(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.cashier_pins import merchant_update_receipt_details

    form = ReceiptDetailsForm(request.POST)
    return _apply(
        request,
        merchant,
        "receipt_form",
        form,
        lambda: merchant_update_receipt_details(
            merchant=merchant,
            address=form.cleaned_data["receipt_address"],
            footer=form.cleaned_data["receipt_footer"],
        ),
        "Receipt details saved.",
    )


@require_POST
@merchant_required
def cashier_pin_save(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    """A staff member's PIN on one terminal: created, or replaced (which ends its open sessions)."""
    from payments.services.cashier_pins import cashier_pin_set

    form = CashierPinForm(request.POST, merchant=merchant)
    return _apply(
        request,
        merchant,
        "pin_form",
        form,
        lambda: cashier_pin_set(
            merchant=merchant,
            terminal_id=form.cleaned_data["terminal"].pk,
            staff_id=form.cleaned_data["staff"].pk,
            pin=form.cleaned_data["pin"],
            can_refund=form.cleaned_data["can_refund"],
        ),
        "Cashier PIN saved.",
    )


@require_POST
@merchant_required
def cashier_pin_remove(request: HttpRequest, merchant: Merchant, pin_id: int) -> HttpResponse:
    from payments.services.cashier_pins import cashier_pin_delete

    if not cashier_pin_delete(merchant=merchant, pin_id=pin_id):
        raise Http404("No such PIN")
    messages.success(request, "Cashier PIN removed; its sessions have ended.")
    return redirect("dashboard:settings")


def _pay_code(merchant: Merchant, code_id: int) -> PayCode:
    code = PayCode.objects.select_related("merchant", "staff", "split_profile").filter(merchant=merchant, pk=code_id)
    found = code.first()
    if found is None:
        raise Http404("No such pay code")
    return found


@require_POST
@merchant_required
def paycode_add(request: HttpRequest, merchant: Merchant) -> HttpResponse:
    from payments.services.paycodes import paycode_create

    form = PayCodeForm(request.POST, merchant=merchant)
    return _apply(
        request,
        merchant,
        "paycode_form",
        form,
        lambda: paycode_create(
            merchant=merchant,
            kind=form.cleaned_data["kind"],
            username=form.cleaned_data["username"],
            staff=form.cleaned_data["staff"],
            split_profile=form.cleaned_data["split_profile"],
            min_sendable_sats=form.cleaned_data["min_sendable_sats"],
            max_sendable_sats=form.cleaned_data["max_sendable_sats"],
        ),
        "Pay code created; download its poster below.",
    )


@require_POST
@merchant_required
def paycode_remove(request: HttpRequest, merchant: Merchant, code_id: int) -> HttpResponse:
    from payments.services.paycodes import paycode_deactivate

    code = paycode_deactivate(pay_code=_pay_code(merchant, code_id))
    messages.success(request, f"Pay code {code.username} deactivated; its posters no longer take payments.")
    return redirect("dashboard:settings")


@require_GET
@merchant_required
def paycode_poster(request: HttpRequest, merchant: Merchant, code_id: int) -> HttpResponse:
    from dashboard.posters import PAGE_SIZES_MM, paycode_poster_pdf

    code = _pay_code(merchant, code_id)
    where = public_host(request)
    size = request.GET.get("size", "A4")
    if size not in PAGE_SIZES_MM:
        return HttpResponse("size: must be A4 or A5.", status=400, content_type="text/plain; charset=utf-8")
    pdf = paycode_poster_pdf(
        code=code, address=paycode_address(code, where), lnurl=paycode_lnurl(code, where), size=size
    )
    return pdf_response(f"paycode-{code.username}-{size}.pdf", pdf)
