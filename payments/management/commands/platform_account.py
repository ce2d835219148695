"""``manage.py platform_account add|update|list|move``: Blink platform accounts for operators who
configure by environment (docs/SCALING.md, several platform accounts). Secrets are read from the
environment variables named on the command line, never from its arguments (shell history, ``ps``)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from blinkpos.errors import ApplicationError
from payments.models import Merchant, PlatformAccount
from payments.services.platform_accounts import (
    merchant_move_to_account,
    platform_account_create,
    platform_account_update,
)

DEFAULT = "default"


def _env(name: str | None, *, what: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name, "")
    if not value:
        raise CommandError(f"${name} is empty or not set ({what}).")
    return value


def _secrets(name: str | None) -> list[str] | None:
    value = _env(name, what="webhook secret(s), comma-separated")
    return None if value is None else [s for s in value.split(",") if s.strip()]


def _account(name: str) -> PlatformAccount | None:
    if name == DEFAULT:
        return None
    account = PlatformAccount.objects.filter(name=name).first()
    if account is None:
        raise CommandError(f"No platform account named {name!r} (use {DEFAULT!r} for the BLINK_* settings' account).")
    return account


class Command(BaseCommand):
    help = "Add, change, list Blink platform accounts and move merchants between them (new sales only)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add an account (its key is checked at Blink)")
        add.add_argument("--name", required=True)
        add.add_argument("--api-key-env", required=True, help="environment variable holding the API key")
        add.add_argument("--wallet", default="", help="BTC wallet id (default: the key's BTC wallet)")
        add.add_argument("--api-url", default="", help="Blink's GraphQL URL (default: BLINK_API_URL)")
        add.add_argument("--webhook-secret-env", help="environment variable with the whsec_ secret(s), comma-separated")
        add.add_argument("--invoice-rate", type=int, help="invoices per window Blink allows this account")
        update = sub.add_parser("update", help="change an account")
        update.add_argument("--name", required=True)
        update.add_argument("--rename")
        update.add_argument("--api-key-env")
        update.add_argument("--wallet")
        update.add_argument("--api-url")
        update.add_argument("--webhook-secret-env")
        update.add_argument("--invoice-rate", type=int)
        update.add_argument("--active", choices=["yes", "no"])
        sub.add_parser("list", help="accounts, their merchants and webhook paths (no secrets)")
        move = sub.add_parser("move", help="create a merchant's NEW sales on another account")
        move.add_argument("--merchant", required=True, help="the merchant's Blink username")
        move.add_argument("--to", required=True, help=f"an account name, or {DEFAULT!r}")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _add(self, options: dict[str, Any]) -> None:
        account = platform_account_create(
            name=options["name"],
            api_key=_env(options["api_key_env"], what="API key") or "",
            wallet_id=options["wallet"],
            api_url=options["api_url"] or settings.BLINK_API_URL,
            webhook_secrets=_secrets(options["webhook_secret_env"]) or [],
            invoice_rate_points=options["invoice_rate"],
        )
        self.stdout.write(f"added {account.name} (id {account.pk}, wallet {account.wallet_id})")
        self.stdout.write(f"  Blink webhook endpoint: <your site>/webhooks/blink/{account.webhook_token}")

    def _update(self, options: dict[str, Any]) -> None:
        account = _account(options["name"])
        if account is None:
            raise CommandError("The default account is configured by the BLINK_* settings.")
        active = options["active"]
        platform_account_update(
            account=account,
            name=options["rename"],
            api_key=_env(options["api_key_env"], what="API key"),
            wallet_id=options["wallet"],
            api_url=options["api_url"],
            webhook_secrets=_secrets(options["webhook_secret_env"]),
            invoice_rate_points=options["invoice_rate"],
            is_active=None if active is None else active == "yes",
        )
        self.stdout.write(f"updated {account.name}")

    def _list(self, options: dict[str, Any]) -> None:
        default_merchants = Merchant.objects.filter(platform_account__isnull=True).count()
        self.stdout.write(f"{DEFAULT}: BLINK_* settings, /webhooks/blink, {default_merchants} merchant(s)")
        for account in PlatformAccount.objects.order_by("name"):
            state = "active" if account.is_active else "INACTIVE"
            self.stdout.write(
                f"{account.name}: id {account.pk}, {state}, wallet {account.wallet_id}, "
                f"/webhooks/blink/{account.webhook_token}, {account.merchants.count()} merchant(s)"
            )

    def _move(self, options: dict[str, Any]) -> None:
        merchant = Merchant.objects.filter(blink_username=options["merchant"].lower()).first()
        if merchant is None:
            raise CommandError(f"No merchant with Blink username {options['merchant']!r}.")
        account = _account(options["to"])
        merchant_move_to_account(merchant=merchant, account=account, actor="manage.py platform_account")
        self.stdout.write(f"{merchant.blink_username}: new sales on {options['to']} (earlier sales stay on theirs)")
