"""BTC prices for display currencies, cached in Redis under ``price:{currency}``.

The price only turns a display amount into sats before an invoice exists, and is stored on the split
(``sats_per_unit``) so the sale is explained later; it never decides a transfer. So the plain
``default`` cache (Redis errors ignored) is the right home: without Redis every request asks the
provider. BTC needs no provider: one bitcoin is exactly 100 000 000 sats.

Each process also remembers a price for ``LOCAL_SECONDS`` in front of Redis: a create would otherwise
spend a Redis round trip (~0.4 ms of CPU across web process and Redis, issue 22) on a value that
changes every ``CACHE_TTLS["prices"]`` seconds. A price is then at most that much older than Redis's.

Also holds the two provider errors every service raises: ``ProviderUnavailable`` when the wallet
provider is temporarily unreachable (the API answers 503 with ``Retry-After``) and ``ProviderError``
when it refused in a way the client cannot fix (502).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.wallet.errors import InvalidInput, WalletError, WalletUnavailable
from payments.wallet.provider import get_wallet_provider
from payments.wallet.types import Price

log = get_logger(__name__)

SATS_PER_BTC = 100_000_000
# A Price for BTC in the provider's format: one sat costs 10**12 / 10**12 "minor units" where a
# minor unit is one sat (fraction_digits=8), so the shared conversion functions work unchanged.
BTC_PRICE = Price(currency="BTC", base=10**12, offset=12, fraction_digits=8)
DEFAULT_RETRY_AFTER = 5
LOCAL_SECONDS = 5.0
_local: dict[str, tuple[float, Price]] = {}  # currency -> (monotonic expiry, price)


class ProviderUnavailable(ApplicationError):
    """The wallet provider is busy or unreachable; nothing was written. Try again after ``retry_after``.
    ``provider_code`` is the provider's own error code (for logs)."""

    code = "provider_unavailable"
    http_status = 503
    retry_after: int

    def __init__(self, *, provider_code: str, message: str, retry_after: int = DEFAULT_RETRY_AFTER) -> None:
        super().__init__(message, retry_after=retry_after)
        self.provider_code = provider_code

    @classmethod
    def from_wallet(cls, exc: WalletUnavailable) -> ProviderUnavailable:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER
        return cls(
            provider_code=exc.code,
            message="The Lightning wallet provider is temporarily unavailable; try again shortly.",
            retry_after=max(1, int(wait + 0.999)),
        )


class ProviderError(ApplicationError):
    """The provider refused or answered something inconsistent (configuration or protocol problem).
    ``provider_code`` is the provider's own error code, or ours for an inconsistency (for logs)."""

    code = "provider_error"
    http_status = 502

    def __init__(self, *, provider_code: str, message: str) -> None:
        super().__init__(message)
        self.provider_code = provider_code


def price_cache_key(currency: str) -> str:
    return f"price:{currency}"


def _encode(price: Price) -> dict[str, Any]:
    return {
        "currency": price.currency,
        "base": price.base,
        "offset": price.offset,
        "fraction_digits": price.fraction_digits,
    }


def _decode(raw: Any) -> Price | None:
    try:
        return Price(
            currency=str(raw["currency"]),
            base=int(raw["base"]),
            offset=int(raw["offset"]),
            fraction_digits=int(raw["fraction_digits"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def price_get(*, currency: str) -> Price:
    """The BTC price in ``currency``: from Redis when cached, else from the provider (then cached for
    ``CACHE_TTLS["prices"]`` seconds). Raises ``ProviderUnavailable`` when the provider cannot answer."""
    currency = currency.upper()
    if currency == "BTC":
        return BTC_PRICE
    now = time.monotonic()
    remembered = _local.get(currency)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    cached = cache.get(price_cache_key(currency))
    if cached is not None:
        price = _decode(cached)
        if price is not None:
            _local[currency] = (now + LOCAL_SECONDS, price)
            return price
    try:
        price = get_wallet_provider().btc_price(currency=currency)
    except WalletUnavailable as exc:
        log.warning("pricing.provider_unavailable", currency=currency, code=exc.code)
        raise ProviderUnavailable.from_wallet(exc) from exc
    except InvalidInput as exc:
        raise ValidationError({"currency": [f"The wallet provider has no price for {currency}."]}) from exc
    except WalletError as exc:
        log.error("pricing.provider_error", currency=currency, code=exc.code)
        raise ProviderError(provider_code=exc.code, message="The wallet provider could not give a price.") from exc
    cache.set(price_cache_key(currency), _encode(price), settings.CACHE_TTLS["prices"])
    _local[currency] = (now + LOCAL_SECONDS, price)
    return price


def forget_local_prices() -> None:
    """Drop this process's remembered prices (the next read goes to Redis)."""
    _local.clear()
