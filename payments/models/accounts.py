"""Blink platform accounts (docs/SCALING.md, several platform accounts): the Blink accounts whose
wallets receive customers' invoices and forward the shares.

The ``BLINK_*`` settings are the implicit default account: a merchant (and a split) with no platform
account uses it, so a single-node deployment has no row here and changes nothing. Each row adds an
account with its own API key, wallet, webhook endpoint (``/webhooks/blink/<webhook_token>``) and
Svix signing secret(s). Keys and secrets are MultiFernet tokens (``payments.crypto``), never shown.
"""

from __future__ import annotations

import secrets

from django.db import models

BLINK_API_URL = "https://api.blink.sv/graphql"


def new_webhook_token() -> str:
    """The unguessable path segment of an account's webhook endpoint (256 bits)."""
    return secrets.token_urlsafe(32)


class PlatformAccount(models.Model):
    name = models.CharField(max_length=80, unique=True)
    # MultiFernet token of the account's Blink API key (READ, RECEIVE and WRITE scopes).
    api_key_encrypted = models.TextField()
    wallet_id = models.CharField(max_length=100, help_text="The account's Blink BTC wallet id")
    api_url = models.CharField(max_length=255, default=BLINK_API_URL)
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token, editable=False)
    # MultiFernet token of the endpoint's whsec_ secrets, one a line (several while Svix rotates it).
    webhook_secrets_encrypted = models.TextField(blank=True, default="")
    # Blink's invoice-creation limit for this account, per BLINK_INVOICE_RATE_WINDOW_SECONDS; empty:
    # BLINK_INVOICE_RATE_POINTS (Blink's default). Set it when Blink has raised the account's limit.
    invoice_rate_points = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive: no new sale is created on it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "platform_accounts"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(api_key_encrypted=""), name="platform_account_has_key"),
            models.CheckConstraint(condition=~models.Q(wallet_id=""), name="platform_account_has_wallet"),
        ]

    def __str__(self) -> str:
        return self.name
