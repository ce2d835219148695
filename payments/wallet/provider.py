"""The one place that builds the process's wallet provider from Django settings.

Everything else in ``payments.wallet`` is free of Django; services call ``get_wallet_provider()``
and depend only on the ``WalletProvider`` protocol, so tests can point it at the fake Blink.
"""

from __future__ import annotations

import functools
import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.wallet.base import WalletProvider
from payments.wallet.client import BlinkClient

DEFAULT_API_URL = "https://api.blink.sv/graphql"


@functools.lru_cache(maxsize=1)
def get_wallet_provider() -> WalletProvider:
    """The process-wide ``BlinkClient`` (one connection pool per process)."""
    # getattr with defaults: settings modules differ per environment, and a missing optional
    # timeout must not break boot. The key has no default: without it nothing can work.
    api_key = getattr(settings, "BLINK_API_KEY", "")
    if not api_key:
        raise ImproperlyConfigured("BLINK_API_KEY is not set: the wallet provider cannot authenticate.")
    return BlinkClient(
        url=getattr(settings, "BLINK_API_URL", DEFAULT_API_URL) or DEFAULT_API_URL,
        api_key=api_key,
        # Empty means "the key's only BTC wallet", discovered on first use.
        wallet_id=getattr(settings, "BLINK_WALLET_ID", "") or None,
        connect_timeout=float(getattr(settings, "BLINK_CONNECT_TIMEOUT", 5.0)),
        read_timeout=float(getattr(settings, "BLINK_READ_TIMEOUT", 15.0)),
    )


def reset_wallet_provider() -> None:
    """Drop (and close) the cached provider, e.g. after a test changed the BLINK_* settings."""
    if get_wallet_provider.cache_info().currsize:
        provider = get_wallet_provider()
        if isinstance(provider, BlinkClient):
            provider.close()
    get_wallet_provider.cache_clear()


# A forked child (Celery prefork, gunicorn) must not share the parent's pooled sockets: two processes
# writing to one TLS connection corrupts both. Forget the parent's client without closing it (closing
# would shut sockets the parent still uses); the child builds its own on first use.
os.register_at_fork(after_in_child=get_wallet_provider.cache_clear)
