"""Merchants, staff, split profiles and terminals.

Merchants the legacy import created carry ``needs_setup``: filter on it, create a login user for the
merchant's owner (Users), pick it in the merchant's ``user`` field, replace a ``legacy-...`` placeholder
username with the real Blink username, then clear the flag. Staff imported without a wallet are listed
with a failing wallet check; "Resolve wallets" asks the provider again and fills the wallet in.

Cashier PINs are read-only here (the merchant sets them) apart from lifting a lock.

Terminals are created through ``terminal_create`` so the key is generated, hashed and shown exactly once
(as a message); revoking goes through ``terminal_revoke``. Secrets (the merchant's encrypted API key,
key digests) are never shown.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from payments import terminal_keys
from payments.admin.common import AdminStylesMixin, ReadOnlyAdmin, ReadOnlyTabularInline, run_service
from payments.models import CashierPin, Merchant, PlatformAccount, SplitProfile, SplitProfileShare, Staff, Terminal


def _move_merchants(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Merchant], *, account: PlatformAccount | None
) -> None:
    from payments.services.platform_accounts import merchant_move_to_account

    actor = request.user.get_username()
    moved = sum(
        run_service(
            request,
            modeladmin,
            f"move {m}",
            partial(merchant_move_to_account, merchant=m, account=account, actor=actor),
        )
        for m in queryset
    )
    if moved:
        target = account.name if account else "the default account"
        modeladmin.message_user(request, f"{moved} merchant(s) now sell on {target}; earlier sales stay on theirs.")


class MerchantForm(ModelForm):
    def clean_platform_account(self) -> PlatformAccount | None:
        account: PlatformAccount | None = self.cleaned_data.get("platform_account")
        if account is not None and not account.is_active and "platform_account" in self.changed_data:
            raise ValidationError("This account is inactive: move merchants to an active one.")
        return account


@admin.register(Merchant)
class MerchantAdmin(AdminStylesMixin, admin.ModelAdmin):
    form = MerchantForm
    list_display = (
        "name",
        "blink_username",
        "display_currency",
        "is_active",
        "needs_setup",
        "wallet_check_ok",
        "payout_route",
        "has_blink_api_key",
        "platform_account",
        "created_at",
    )
    list_filter = (
        "platform_account",
        "needs_setup",
        "is_active",
        "wallet_check_ok",
        "display_currency",
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("name", "blink_username", "wallet_id", "user__username")
    # The wallet id is resolved from the username by the services; the API key is write-only (dashboard).
    fields = (
        "name",
        "user",
        "blink_username",
        "wallet_id",
        "display_currency",
        "tip_presets",
        "is_active",
        "needs_setup",
        "setup_note",
        "platform_account",
        "has_blink_api_key",
        "blink_api_key_scopes",
        "wallet_check_ok",
        "wallet_checked_at",
        "wallet_check_error",
        "lightning_address",
        "payout_route",
        "payout_route_detail",
        "payout_route_checked_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "wallet_id",
        "lightning_address",
        "payout_route",
        "payout_route_detail",
        "payout_route_checked_at",
        "has_blink_api_key",
        "blink_api_key_scopes",
        "wallet_check_ok",
        "wallet_checked_at",
        "wallet_check_error",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("user",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # merchants own payment history (PROTECT); deactivate instead

    def get_actions(self, request: HttpRequest) -> Any:
        actions: dict[str, Any] = dict(super().get_actions(request))
        # One "move" action per active account, plus the default: effective for new sales only.
        targets: list[PlatformAccount | None] = [None, *PlatformAccount.objects.filter(is_active=True)]
        for account in targets:
            name = f"move_to_account_{account.pk if account else 'default'}"
            label = account.name if account else "the default account (BLINK_* settings)"
            actions[name] = (partial(_move_merchants, account=account), name, f"Move to {label} (new sales)")
        return actions

    def save_model(self, request: HttpRequest, obj: Merchant, form: ModelForm, change: bool) -> None:
        if change and "platform_account" in form.changed_data:
            from payments.services.platform_accounts import merchant_move_to_account

            # Logged as a move; saved with the rest below. New sales only (docs/SCALING.md).
            merchant_move_to_account(merchant=obj, account=obj.platform_account, actor=request.user.get_username())
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            # The merchant's terminal keys follow at once in every process (payments/terminal_keys.py).
            transaction.on_commit(terminal_keys.forget_all)

    @admin.display(boolean=True, description="API key set")
    def has_blink_api_key(self, merchant: Merchant) -> bool:
        return merchant.has_blink_api_key


@admin.register(Staff)
class StaffAdmin(AdminStylesMixin, admin.ModelAdmin):
    list_display = (
        "display_name",
        "blink_username",
        "lightning_address",
        "merchant",
        "is_active",
        "payout_route",
        "payout_route_checked_at",
        "wallet_check_ok",
        "wallet_checked_at",
        "wallet_check_error",
    )
    list_filter = ("is_active", "wallet_check_ok", "merchant")
    search_fields = ("display_name", "blink_username", "lightning_address", "wallet_id")
    list_select_related = ("merchant",)
    fields = (
        "merchant",
        "display_name",
        "blink_username",
        "wallet_id",
        "is_active",
        "wallet_check_ok",
        "wallet_checked_at",
        "wallet_check_error",
        "lightning_address",
        "payout_route",
        "payout_route_detail",
        "payout_route_checked_at",
    )
    # Where money goes is changed only through the services (dashboard, API), which resolve it first.
    readonly_fields = (
        "wallet_id",
        "wallet_check_ok",
        "wallet_checked_at",
        "wallet_check_error",
        *("lightning_address", "payout_route", "payout_route_detail", "payout_route_checked_at"),
    )
    actions = ("resolve_wallets", "deactivate")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # staff are added from the merchant dashboard, where the username is resolved

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # staff are referenced by legs (PROTECT); deactivate instead

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The username decides where tips go; it changes only by adding a new staff member.
        return (*self.readonly_fields, "merchant", "blink_username")

    @admin.action(description="Resolve wallets (fill in imported staff without one)")
    def resolve_wallets(self, request: HttpRequest, queryset: QuerySet[Staff]) -> None:
        from payments.services.maintenance import recipients_check

        result = recipients_check(staff_ids=list(queryset.values_list("pk", flat=True)), merchant_ids=[])
        for username in result.resolved:
            self.message_user(request, f"@{username}: wallet resolved; retry the payments waiting for it.")
        for _kind, username, error in result.flagged:
            self.message_user(request, f"@{username}: {error}", messages.WARNING)
        if result.provider_error:
            self.message_user(request, f"Wallet provider unavailable ({result.provider_error}).", messages.ERROR)

    @admin.action(description="Deactivate the selected staff")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Staff]) -> None:
        from payments.services.parties import staff_deactivate

        done = sum(run_service(request, self, f"deactivate {s}", partial(staff_deactivate, staff=s)) for s in queryset)
        if done:
            self.message_user(request, f"{done} staff member(s) deactivated.", messages.SUCCESS)


class SplitProfileShareInline(ReadOnlyTabularInline):
    model = SplitProfileShare
    fields = ("staff", "weight_bps")
    readonly_fields = ("staff", "weight_bps")


@admin.register(SplitProfile)
class SplitProfileAdmin(AdminStylesMixin, admin.ModelAdmin):
    list_display = ("name", "merchant", "is_active", "created_at")
    list_filter = ("is_active", "merchant")
    search_fields = ("name", "merchant__name")
    inlines = (SplitProfileShareInline,)
    readonly_fields = ("merchant", "name", "created_at")
    fields = ("merchant", "name", "is_active", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # weights are validated by split_profile_save (merchant dashboard)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TerminalForm(ModelForm):
    class Meta:
        model = Terminal
        fields = ("merchant", "name")


@admin.register(Terminal)
class TerminalAdmin(AdminStylesMixin, admin.ModelAdmin):
    form = TerminalForm
    list_display = ("name", "merchant", "key_prefix", "is_active", "created_at", "last_used_at", "revoked_at")
    list_filter = ("merchant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "key_prefix", "merchant__name")
    list_select_related = ("merchant",)
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["merchant", "name"]
        return ["merchant", "name", "key_prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("merchant", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: splits keep pointing at their terminal

    @admin.display(boolean=True, description="active")
    def is_active(self, terminal: Terminal) -> bool:
        return terminal.is_active

    def save_model(self, request: HttpRequest, obj: Terminal, form: Any, change: bool) -> None:
        if change:
            return  # nothing on an existing terminal is editable here
        from payments.services.terminals import terminal_create

        terminal, plain_key = terminal_create(merchant=obj.merchant, name=obj.name)
        # The admin redirects using obj; point it at the row the service created.
        obj.pk = terminal.pk
        obj.key_prefix = terminal.key_prefix
        obj.key_hash = terminal.key_hash
        obj.created_at = terminal.created_at
        self.message_user(
            request,
            f"Terminal key for “{terminal.name}” (shown only this once, copy it now): {plain_key}",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected terminals' keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        from payments.services.terminals import terminal_revoke

        done = sum(
            run_service(request, self, f"revoke {t.name}", partial(terminal_revoke, terminal=t))
            for t in queryset.filter(revoked_at__isnull=True)
        )
        if done:
            self.message_user(request, f"{done} terminal(s) revoked.", messages.SUCCESS)


@admin.register(SplitProfileShare)
class SplitProfileShareAdmin(ReadOnlyAdmin):
    list_display = ("profile", "staff", "weight_bps")
    list_filter = ("profile__merchant",)
    search_fields = ("profile__name", "staff__blink_username")
    list_select_related = ("profile", "staff")


@admin.register(CashierPin)
class CashierPinAdmin(ReadOnlyAdmin):
    """Cashier PINs are set by the merchant (dashboard settings); operators see them and can lift a lock.
    The PIN's hash is never shown."""

    list_display = ("terminal", "staff", "can_refund", "failed_attempts", "locked_until", "updated_at")
    list_filter = ("terminal__merchant", "can_refund")
    search_fields = ("terminal__name", "staff__display_name", "terminal__merchant__name")
    list_select_related = ("terminal", "staff")
    exclude = ("pin_hash",)
    actions = ("unlock",)

    @admin.action(description="Lift the wrong-PIN lock of the selected PINs")
    def unlock(self, request: HttpRequest, queryset: QuerySet[CashierPin]) -> None:
        # Not through save(): updated_at stays, so the PIN's open sessions go on.
        done = queryset.update(failed_attempts=0, locked_until=None)
        self.message_user(request, f"{done} PIN(s) unlocked.", messages.SUCCESS)
