"""Adding, changing and assigning Blink platform accounts (docs/SCALING.md, several platform accounts).

An account's API key is checked at Blink before it is stored (``me``: the key is accepted, has the
READ, RECEIVE and WRITE scopes a platform needs, and owns the BTC wallet named), then encrypted
(``payments.crypto``); so are its webhook secrets. Neither is ever shown again, logged or cached in
Redis. Moving a merchant to another account changes the account of its NEW sales only: every split
keeps the account it was created on (``payments.platform_accounts``).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from svix.webhooks import Webhook

from blinkpos.logging import get_logger
from payments.crypto import encrypt_secret
from payments.models import Merchant, PlatformAccount
from payments.models.accounts import BLINK_API_URL
from payments.platform_accounts import credentials_of
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.wallet import validation
from payments.wallet.errors import InvalidInput, NotAuthorized, WalletError, WalletUnavailable
from payments.wallet.provider import unshared_client

log = get_logger(__name__)

PLATFORM_SCOPES = frozenset({"READ", "RECEIVE", "WRITE"})
_URL = URLValidator(schemes=["https", "http"])


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 80:
        raise _invalid("name", "Give a name of 1 to 80 characters.")
    return name.strip()


def _check_url(api_url: object) -> str:
    if not isinstance(api_url, str):
        raise _invalid("api_url", "Must be the URL of Blink's GraphQL API.")
    url = api_url.strip() or BLINK_API_URL
    try:
        _URL(url)
    except ValidationError as exc:
        raise _invalid("api_url", "Must be the URL of Blink's GraphQL API.") from exc
    return url


def _check_secrets(secrets: Sequence[str]) -> list[str]:
    cleaned = [s.strip() for s in secrets if s and s.strip()]
    for secret in cleaned:
        try:
            Webhook(secret)
        except Exception as exc:  # svix raises plain errors for a malformed base64 secret
            raise _invalid("webhook_secrets", "Each secret must be a Svix signing secret (whsec_...).") from exc
    return cleaned


def _check_rate(points: object) -> int | None:
    if points is None:
        return None
    if type(points) is not int or points < 1:
        raise _invalid("invoice_rate_points", "Must be a whole number of invoices, 1 or more.")
    return points


def _checked_key(*, api_url: str, api_key: str, wallet_id: str) -> tuple[str, str]:
    """(key, BTC wallet id) after Blink accepted the key; field errors name ``api_key`` / ``wallet_id``."""
    try:
        key = validation.api_key(api_key)
    except InvalidInput as exc:
        raise _invalid("api_key", "Must be a Blink API key (printable, no spaces).") from exc
    client = unshared_client(api_url=api_url, api_key=key)
    try:
        info = client.key_info(api_key=key)
    except NotAuthorized as exc:
        raise _invalid("api_key", "Blink does not accept this API key.") from exc
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except WalletError as exc:
        log.error("platform_account.key_check_failed", code=exc.code)
        raise ProviderError(provider_code=exc.code, message="The wallet provider could not check the key.") from exc
    finally:
        client.close()
    missing = PLATFORM_SCOPES - info.scopes
    if missing:
        raise _invalid("api_key", f"A platform key needs the {', '.join(sorted(missing))} scope(s) too.")
    btc = [w.wallet_id for w in info.wallets if w.currency == "BTC"]
    wanted = wallet_id.strip()
    if not wanted:
        if not btc:
            raise _invalid("wallet_id", "This key's account has no BTC wallet.")
        return key, btc[0]
    if wanted not in btc:
        raise _invalid("wallet_id", "Not a BTC wallet of the account this key belongs to.")
    return key, wanted


def platform_account_create(
    *,
    name: str,
    api_key: str,
    wallet_id: str = "",
    api_url: str = BLINK_API_URL,
    webhook_secrets: Sequence[str] = (),
    invoice_rate_points: int | None = None,
) -> PlatformAccount:
    """Add a platform account after checking its key at Blink (``wallet_id`` empty: the key's BTC
    wallet). Raises ``ValidationError`` naming the field, ``ProviderUnavailable`` / ``ProviderError``
    when Blink cannot check the key; nothing is written then."""
    name = _check_name(name)
    url = _check_url(api_url)
    secrets = _check_secrets(webhook_secrets)
    points = _check_rate(invoice_rate_points)
    if PlatformAccount.objects.filter(name=name).exists():
        raise _invalid("name", "An account with this name exists.")
    key, wallet = _checked_key(api_url=url, api_key=api_key, wallet_id=wallet_id)
    account = PlatformAccount.objects.create(
        name=name,
        api_key_encrypted=encrypt_secret(key),
        wallet_id=wallet,
        api_url=url,
        webhook_secrets_encrypted=encrypt_secret("\n".join(secrets)) if secrets else "",
        invoice_rate_points=points,
    )
    log.info("platform_account.created", account_id=account.pk, wallet_id=wallet)
    return account


def platform_account_update(
    *,
    account: PlatformAccount,
    name: str | None = None,
    api_key: str | None = None,
    wallet_id: str | None = None,
    api_url: str | None = None,
    webhook_secrets: Sequence[str] | None = None,
    invoice_rate_points: int | None = None,
    clear_invoice_rate: bool = False,
    is_active: bool | None = None,
) -> PlatformAccount:
    """Change what is given (None: unchanged). A new key, URL or wallet is checked at Blink first; the
    webhook token never changes (Blink's endpoint keeps its URL)."""
    if name is not None:
        name = _check_name(name)
        if PlatformAccount.objects.filter(name=name).exclude(pk=account.pk).exists():
            raise _invalid("name", "An account with this name exists.")
        account.name = name
    url = _check_url(api_url) if api_url is not None else account.api_url
    if api_key or wallet_id is not None or api_url is not None:
        key = api_key or credentials_of(account).api_key  # the stored key, when only the wallet or URL change
        key, wallet = _checked_key(api_url=url, api_key=key, wallet_id=wallet_id or account.wallet_id)
        account.api_key_encrypted, account.wallet_id, account.api_url = encrypt_secret(key), wallet, url
    if webhook_secrets is not None:
        secrets = _check_secrets(webhook_secrets)
        account.webhook_secrets_encrypted = encrypt_secret("\n".join(secrets)) if secrets else ""
    if invoice_rate_points is not None or clear_invoice_rate:
        account.invoice_rate_points = None if clear_invoice_rate else _check_rate(invoice_rate_points)
    if is_active is not None:
        account.is_active = is_active
    account.save()
    log.info("platform_account.updated", account_id=account.pk, active=account.is_active)
    return account


def merchant_move_to_account(*, merchant: Merchant, account: PlatformAccount | None, actor: str) -> Merchant:
    """Create the merchant's NEW sales on ``account`` (None: the default account). Sales already made
    stay on the account that created them, through forwarding, reconciliation and the books."""
    if account is not None and not account.is_active:
        raise _invalid("platform_account", "This account is inactive: move merchants to an active one.")
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        before = locked.platform_account_id
        locked.platform_account = account
        locked.save(update_fields=["platform_account", "updated_at"])
    log.info(
        "merchant.platform_account_moved",
        merchant_id=merchant.pk,
        from_account=before,
        to_account=None if account is None else account.pk,
        actor=actor,
    )
    merchant.platform_account = account
    return merchant
