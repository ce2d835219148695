"""Which Blink platform account a sale uses, and its wallet provider (docs/ARCHITECTURE.md, Platform
accounts).

A split keeps the account it was created on (``payment_splits.platform_account_id``; NULL is the default
account of the ``BLINK_*`` settings). Everything done later about that sale (status polls, payout
invoices, sends, lookups, cancel) goes through ``provider_for(account_id=split.platform_account_id)``,
never through the merchant's current account: moving a merchant changes new sales only.
"""

from __future__ import annotations

from django.conf import settings

from payments.crypto import decrypt_secret
from payments.models import PaymentLeg, PaymentSplit, PlatformAccount
from payments.wallet.base import WalletProvider
from payments.wallet.provider import DEFAULT_API_URL, AccountCredentials, get_wallet_provider

DEFAULT_LABEL = "default"


def account_label(account_id: int | None) -> str:
    """How logs, metrics and findings name an account: its id, or ``default``."""
    return DEFAULT_LABEL if account_id is None else str(account_id)


def credentials_of(account: PlatformAccount) -> AccountCredentials:
    return AccountCredentials(
        account_id=account.pk,
        api_url=account.api_url or DEFAULT_API_URL,
        api_key=decrypt_secret(account.api_key_encrypted),
        wallet_id=account.wallet_id,
    )


def provider_for(*, account_id: int | None) -> WalletProvider:
    """The wallet provider of a platform account (None: the default account). One primary-key read; the
    client itself is cached per account and process (``payments.wallet.provider``)."""
    if account_id is None:
        return get_wallet_provider()
    return get_wallet_provider(credentials_of(PlatformAccount.objects.get(pk=account_id)))


def split_account_id(*, split_id: int) -> int | None:
    return PaymentSplit.objects.filter(pk=split_id).values_list("platform_account_id", flat=True).first()


def provider_for_leg(leg: PaymentLeg) -> WalletProvider:
    """The provider of the account that received the leg's sale (and so pays the leg)."""
    return provider_for(account_id=split_account_id(split_id=leg.split_id))


def wallet_id_of(account_id: int | None) -> str:
    """The account's wallet id ('' when the default account's is not configured: any wallet of the key)."""
    if account_id is None:
        return str(getattr(settings, "BLINK_WALLET_ID", "") or "")
    return PlatformAccount.objects.filter(pk=account_id).values_list("wallet_id", flat=True).first() or ""


def webhook_secrets_of(account: PlatformAccount | None) -> list[str]:
    """The Svix secrets an account's endpoint verifies with (several while one is rotated)."""
    if account is None:
        return [s for s in (getattr(settings, "BLINK_WEBHOOK_SECRETS", []) or []) if s]
    if not account.webhook_secrets_encrypted:
        return []
    return [s.strip() for s in decrypt_secret(account.webhook_secrets_encrypted).splitlines() if s.strip()]


def account_ids_in_use() -> list[int | None]:
    """The default account and every other one, inactive included (their sales still settle), in a
    stable order: reconciliation and books walk each."""
    return [None, *PlatformAccount.objects.order_by("pk").values_list("pk", flat=True)]
