"""Blink platform accounts, and moving merchants between them (docs/SCALING.md, several platform
accounts).

The form never shows a stored secret: the API key and the webhook secrets are write-only inputs,
empty on every change page ("leave empty to keep"). Saving goes through ``platform_account_create`` /
``platform_account_update``, which check the key at Blink first; a refusal is shown on the field and
nothing is written. Merchants are moved with the merchant list's "Move to ..." actions or the
merchant's own form (``merchant_move_to_account``): their new sales only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from blinkpos.errors import ApplicationError
from payments.admin.common import AdminStylesMixin
from payments.models import PlatformAccount
from payments.provider_limits import invoice_block_remaining
from payments.services.platform_accounts import platform_account_create, platform_account_update


class PlatformAccountForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Blink API key with READ, RECEIVE and WRITE scopes; checked at Blink. Never shown again; "
        "leave empty to keep the stored one.",
    )
    webhook_secrets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text="The endpoint's Svix signing secret(s) (whsec_...), one a line. Never shown again; leave "
        "empty to keep the stored ones.",
    )

    class Meta:
        model = PlatformAccount
        fields = ("name", "wallet_id", "api_url", "invoice_rate_points", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["wallet_id"].required = False
        self.fields["wallet_id"].help_text = "Empty: the key's BTC wallet."
        self.saved: PlatformAccount | None = None

    def validate_unique(self) -> None:
        pass  # the service checks the name, and has already saved the row by the time this would run

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if self.errors:
            return data
        secrets = [s for s in (data.get("webhook_secrets") or "").splitlines() if s.strip()]
        try:
            if self.instance.pk is None:
                if not data.get("api_key"):
                    raise ValidationError({"api_key": ["Required for a new account."]})
                self.saved = platform_account_create(
                    name=data["name"],
                    api_key=data["api_key"],
                    wallet_id=data.get("wallet_id") or "",
                    api_url=data.get("api_url") or "",
                    webhook_secrets=secrets,
                    invoice_rate_points=data.get("invoice_rate_points"),
                )
                self.saved.is_active = bool(data.get("is_active", True))
                self.saved.save(update_fields=["is_active"])
            else:
                stored = PlatformAccount.objects.get(pk=self.instance.pk)
                changed_wallet = data.get("wallet_id") and data["wallet_id"] != stored.wallet_id
                self.saved = platform_account_update(
                    account=stored,
                    name=data["name"],
                    api_key=data.get("api_key") or None,
                    wallet_id=data["wallet_id"] if changed_wallet else None,
                    api_url=data["api_url"] if data.get("api_url") != stored.api_url else None,
                    webhook_secrets=secrets or None,
                    invoice_rate_points=data.get("invoice_rate_points"),
                    clear_invoice_rate=data.get("invoice_rate_points") is None,
                    is_active=bool(data.get("is_active")),
                )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        except ApplicationError as exc:
            self.add_error(None, exc.message)
        return data


@admin.register(PlatformAccount)
class PlatformAccountAdmin(AdminStylesMixin, admin.ModelAdmin):
    form = PlatformAccountForm
    list_display = ("name", "wallet_id", "is_active", "merchant_count", "webhook_path", "invoice_block")
    list_filter = ("is_active",)
    search_fields = ("name", "wallet_id")
    readonly_fields = ("webhook_path", "merchant_count", "invoice_block", "created_at", "updated_at")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        editable = ("name", "api_key", "wallet_id", "api_url", "webhook_secrets", "invoice_rate_points", "is_active")
        return editable if obj is None else (*editable, *self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # splits name the account that created them (PROTECT); deactivate instead

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        assert form.saved is not None  # clean() saved through the service, or the form was invalid
        return form.saved

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        pass  # written by the service in the form's clean()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass

    @admin.display(description="Blink webhook endpoint")
    def webhook_path(self, account: PlatformAccount) -> str:
        return f"/webhooks/blink/{account.webhook_token}"

    @admin.display(description="merchants")
    def merchant_count(self, account: PlatformAccount) -> int:
        return account.merchants.count()

    @admin.display(description="invoice block (s)")
    def invoice_block(self, account: PlatformAccount) -> int:
        return invoice_block_remaining(account.pk) or 0
