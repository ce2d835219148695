"""BTC prices the fake quotes, in Blink's ``realtimePrice`` shape (one sat in minor units,
``base / 10**12``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Blink's SAT_PRICE_PRECISION_OFFSET.
SAT_PRICE_OFFSET = 12
SATS_PER_BTC = 100_000_000


@dataclass(frozen=True, kw_only=True)
class Quote:
    currency: str
    name: str
    symbol: str
    fraction_digits: int
    btc_price: Decimal  # major units per BTC

    @property
    def base(self) -> int:
        minor_per_sat = self.btc_price * 10**self.fraction_digits / SATS_PER_BTC
        return int((minor_per_sat * 10**SAT_PRICE_OFFSET).to_integral_value(rounding=ROUND_HALF_UP))


_DEFAULTS = (
    Quote(currency="USD", name="US Dollar", symbol="$", fraction_digits=2, btc_price=Decimal("100000")),
    Quote(currency="EUR", name="Euro", symbol="\u20ac", fraction_digits=2, btc_price=Decimal("92000")),
    Quote(currency="GBP", name="British Pound", symbol="\u00a3", fraction_digits=2, btc_price=Decimal("79000")),
    Quote(currency="CHF", name="Swiss Franc", symbol="CHF", fraction_digits=2, btc_price=Decimal("88000")),
    Quote(currency="JPY", name="Japanese Yen", symbol="\u00a5", fraction_digits=0, btc_price=Decimal("15000000")),
    Quote(currency="KES", name="Kenyan Shilling", symbol="KSh", fraction_digits=2, btc_price=Decimal("12900000")),
)


class PriceBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._quotes = {q.currency: q for q in _DEFAULTS}

    def quote(self, currency: str) -> Quote | None:
        with self._lock:
            return self._quotes.get(currency.upper())

    def set_price(self, currency: str, btc_price: Decimal, *, fraction_digits: int | None = None) -> None:
        if not isinstance(btc_price, Decimal) or btc_price <= 0:
            raise ValueError("btc_price must be a positive Decimal")
        code = currency.upper()
        with self._lock:
            old = self._quotes.get(code)
            digits = fraction_digits if fraction_digits is not None else (old.fraction_digits if old else 2)
            self._quotes[code] = Quote(
                currency=code,
                name=old.name if old else code,
                symbol=old.symbol if old else code,
                fraction_digits=digits,
                btc_price=btc_price,
            )
