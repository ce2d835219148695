"""The platform account a new sale is created on (docs/ARCHITECTURE.md, Platform accounts): the
merchant's account at the moment of the sale, checked for use before Blink is asked.

``invoice_create`` calls ``sale_account`` right before its one provider call: an inactive account is a
503, a remembered Blink block or the account's own creation count past Blink's limit a 429
(``payments.provider_limits``); nothing is written in any case.
"""

from __future__ import annotations

from dataclasses import dataclass

from blinkpos.errors import ApplicationError
from payments.models import Merchant
from payments.platform_accounts import credentials_of
from payments.provider_limits import invoice_create_admit
from payments.wallet.base import WalletProvider
from payments.wallet.provider import AccountCredentials, get_wallet_provider


class PlatformAccountInactive(ApplicationError):
    """The merchant's platform account was deactivated by an operator: no new sale until it is moved."""

    code = "platform_account_inactive"
    http_status = 503

    def __init__(self) -> None:
        super().__init__("This merchant's payment account is disabled; ask the operator to move it to another one.")


@dataclass(frozen=True, kw_only=True)
class SaleAccount:
    account_id: int | None  # None: the default account (BLINK_* settings)
    credentials: AccountCredentials | None


def sale_account(*, merchant: Merchant) -> SaleAccount:
    """The merchant's current account, with one creation counted against its limit.

    Raises ``PlatformAccountInactive`` or ``ProviderRateLimited``; both before anything is written."""
    account = merchant.platform_account
    if account is not None and not account.is_active:
        raise PlatformAccountInactive()
    account_id = None if account is None else account.pk
    invoice_create_admit(account_id=account_id, points=None if account is None else account.invoice_rate_points)
    return SaleAccount(account_id=account_id, credentials=None if account is None else credentials_of(account))


def sale_provider(account: SaleAccount) -> WalletProvider:
    return get_wallet_provider(account.credentials)
