"""Display currency <-> satoshis, exactly.

Pure functions over ``Price``. The arithmetic runs on ``Fraction`` (exact rationals) and rounds once,
half away from zero (Decimal's ROUND_HALF_UP), so no intermediate precision limit or float can shift
a sat. Floats are refused outright: ``Decimal(0.1)`` is not 0.1.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from payments.wallet.types import Price


def _round_half_up(value: Fraction) -> int:
    """Nearest integer, ties away from zero (matches decimal.ROUND_HALF_UP)."""
    magnitude = (abs(value.numerator) * 2 + value.denominator) // (value.denominator * 2)
    return magnitude if value >= 0 else -magnitude


def _check_price(price: Price) -> None:
    if price.base <= 0 or price.offset < 0 or price.fraction_digits < 0:
        raise ValueError(f"unusable price for {price.currency}: base and digits must be positive")


def fiat_to_sats(amount: Decimal, *, price: Price) -> int:
    """Major units of ``price.currency`` (e.g. Decimal("12.50") dollars) -> integer sats."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    _check_price(price)
    minor_units = Fraction(amount) * 10**price.fraction_digits
    # One sat costs base / 10**offset minor units.
    sats = minor_units * 10**price.offset / price.base
    return _round_half_up(sats)


def sats_to_fiat(sats: int, *, price: Price) -> Decimal:
    """Integer sats -> major units of ``price.currency``, rounded to the currency's minor unit."""
    if type(sats) is not int:
        raise TypeError(f"sats must be an int, got {type(sats).__name__}")
    _check_price(price)
    minor_units = _round_half_up(Fraction(sats * price.base, 10**price.offset))
    return Decimal(minor_units).scaleb(-price.fraction_digits)
