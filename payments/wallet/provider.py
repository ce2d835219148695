"""The one place that builds the process's wallet providers from Django settings.

Everything else in ``payments.wallet`` is free of Django; services call ``get_wallet_provider()``
(the default platform account, from the ``BLINK_*`` settings) or, for a sale made on another Blink
platform account, ``payments.platform_accounts.provider_for`` which passes that account's
``AccountCredentials`` here. One client (one connection pool) per account and process.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.wallet.base import WalletProvider
from payments.wallet.client import BlinkClient

DEFAULT_API_URL = "https://api.blink.sv/graphql"


@dataclass(frozen=True, kw_only=True)
class AccountCredentials:
    """A platform account's connection details, decrypted (never logged: the key is out of repr)."""

    account_id: int
    api_url: str
    api_key: str = field(repr=False)
    wallet_id: str


_lock = threading.Lock()
# None: the default account. The credentials a client was built from are kept beside it, so an
# account whose key, URL or wallet changed (admin) gets a new client on its next use.
_clients: dict[int | None, tuple[AccountCredentials | None, WalletProvider]] = {}


def _client(*, url: str, api_key: str, wallet_id: str | None) -> BlinkClient:
    # getattr with defaults: settings modules differ per environment, and a missing optional
    # timeout must not break boot.
    return BlinkClient(
        url=url,
        api_key=api_key,
        wallet_id=wallet_id,
        connect_timeout=float(getattr(settings, "BLINK_CONNECT_TIMEOUT", 5.0)),
        read_timeout=float(getattr(settings, "BLINK_READ_TIMEOUT", 15.0)),
    )


def _default_client() -> BlinkClient:
    api_key = getattr(settings, "BLINK_API_KEY", "")
    if not api_key:  # no default: without it nothing can work
        raise ImproperlyConfigured("BLINK_API_KEY is not set: the wallet provider cannot authenticate.")
    return _client(
        url=getattr(settings, "BLINK_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL,
        api_key=api_key,
        # Empty means "the key's only BTC wallet", discovered on first use.
        wallet_id=getattr(settings, "BLINK_WALLET_ID", "") or None,
    )


def get_wallet_provider(account: AccountCredentials | None = None) -> WalletProvider:
    """The process-wide client of ``account`` (None: the default account from the BLINK_* settings)."""
    key = None if account is None else account.account_id
    with _lock:
        cached = _clients.get(key)
        if cached is not None and cached[0] == account:
            return cached[1]
        provider: WalletProvider = (
            _default_client()
            if account is None
            else _client(url=account.api_url, api_key=account.api_key, wallet_id=account.wallet_id)
        )
        _clients[key] = (account, provider)
    if cached is not None and isinstance(cached[1], BlinkClient):
        cached[1].close()  # the account's details changed: its old pool is not used again
    return provider


def warm_default_provider() -> None:
    """Build the default account's client now, when a web or worker process starts, rather than in
    the first sale after a restart: its first use imports httpcore and loads the CA certificates (a
    few hundred CPU ms on the bench's 2-core machine, on that sale's path). No network call; nothing
    when no key is configured (the first use then says why)."""
    if getattr(settings, "BLINK_API_KEY", ""):
        get_wallet_provider()


def unshared_client(*, api_url: str, api_key: str) -> BlinkClient:
    """A client of its own for one check of a key that is not stored yet (the caller closes it)."""
    return _client(url=api_url, api_key=api_key, wallet_id=None)


def reset_wallet_provider() -> None:
    """Drop (and close) every cached provider, e.g. after a test changed the BLINK_* settings."""
    with _lock:
        dropped = [provider for _, provider in _clients.values()]
        _clients.clear()
    for provider in dropped:
        if isinstance(provider, BlinkClient):
            provider.close()


def _forget_after_fork() -> None:
    # A forked child (Celery prefork, a web worker) must not share the parent's pooled sockets: two
    # processes writing to one TLS connection corrupts both. Forget the parent's clients without
    # closing them (closing would shut sockets the parent still uses); the child builds its own.
    global _lock
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
