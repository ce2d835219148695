"""Display currency <-> sats: exact integer arithmetic, checked as properties over many prices.

Reference values are computed with ``fractions.Fraction`` (exact rationals), never floats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.wallet.conversion import fiat_to_sats, sats_to_fiat
from payments.wallet.types import Price

# One sat costs between 0.00001 and 10 minor units (BTC between 1 000 and 1e9 major units).
prices = st.builds(
    lambda base, digits, currency: Price(currency=currency, base=base, offset=12, fraction_digits=digits),
    base=st.integers(min_value=10**7, max_value=10**13),
    digits=st.sampled_from([0, 2, 3]),
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
)
sats = st.integers(min_value=0, max_value=10**12)
# Run with the rest of the suite without writing a .hypothesis/ folder into the repository.
PROPERTY = settings(database=None, max_examples=150, deadline=None)


def _exact_sats(amount: Decimal, price: Price) -> Fraction:
    return Fraction(amount) * 10**price.fraction_digits * 10**price.offset / price.base


def _amounts(price: Price) -> st.SearchStrategy[Decimal]:
    # Amounts on the currency's own grid (whole cents for USD, whole yen for JPY).
    return st.integers(min_value=0, max_value=10**9).map(lambda minor: Decimal(minor).scaleb(-price.fraction_digits))


@PROPERTY
@given(data=st.data(), price=prices)
def test_fiat_to_sats_is_the_nearest_integer(data: st.DataObject, price: Price) -> None:
    amount = data.draw(_amounts(price))

    result = fiat_to_sats(amount, price=price)

    assert type(result) is int
    assert abs(Fraction(result) - _exact_sats(amount, price)) <= Fraction(1, 2)


@PROPERTY
@given(data=st.data(), price=prices)
def test_fiat_round_trip_is_exact_within_one_sat_of_value(data: st.DataObject, price: Price) -> None:
    # given a display amount, converted to sats and back
    amount = data.draw(_amounts(price))
    back = sats_to_fiat(fiat_to_sats(amount, price=price), price=price)

    # then the amounts differ by at most the value of one sat plus half a minor unit of rounding,
    value_of_one_sat = Fraction(price.base, 10**price.offset) / 10**price.fraction_digits
    half_minor = Fraction(1, 2 * 10**price.fraction_digits)
    assert abs(Fraction(back) - Fraction(amount)) <= value_of_one_sat + half_minor
    # and when a sat is worth less than a minor unit (every real currency today) it is exact
    if price.base < 10**price.offset:
        assert back == amount


@PROPERTY
@given(amount_sats=sats, price=prices)
def test_sats_round_trip_is_within_half_a_minor_unit_of_sats(amount_sats: int, price: Price) -> None:
    back = fiat_to_sats(sats_to_fiat(amount_sats, price=price), price=price)

    # sats -> fiat rounds to the minor unit, so the way back is off by at most half a minor unit's worth
    sats_per_minor = Fraction(10**price.offset, price.base)
    assert abs(back - amount_sats) <= sats_per_minor / 2 + 1


@PROPERTY
@given(a=sats, b=sats, price=prices)
def test_sats_to_fiat_is_monotonic(a: int, b: int, price: Price) -> None:
    low, high = sorted((a, b))
    assert sats_to_fiat(low, price=price) <= sats_to_fiat(high, price=price)


@PROPERTY
@given(amount_sats=sats, price=prices)
def test_sats_to_fiat_has_the_currency_decimal_places(amount_sats: int, price: Price) -> None:
    assert sats_to_fiat(amount_sats, price=price).as_tuple().exponent == -price.fraction_digits


def test_half_rounds_up_not_to_even() -> None:
    # given 1 sat = 0.5 minor units
    price = Price(currency="USD", base=5 * 10**11, offset=12, fraction_digits=2)

    assert sats_to_fiat(1, price=price) == Decimal("0.01")  # 0.5 cent -> 1 cent
    assert sats_to_fiat(3, price=price) == Decimal("0.02")  # 1.5 cents -> 2 cents
    assert fiat_to_sats(Decimal("0.01"), price=price) == 2
    assert fiat_to_sats(Decimal("-0.005"), price=Price(currency="USD", base=10**12, offset=12, fraction_digits=2)) == -1


@pytest.mark.parametrize("bad", [1.5, 2, "1.00"])
def test_fiat_to_sats_refuses_anything_but_decimal(bad: object) -> None:
    price = Price(currency="USD", base=10**11, offset=12, fraction_digits=2)

    with pytest.raises(TypeError):
        fiat_to_sats(bad, price=price)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, True, Decimal(1)])
def test_sats_to_fiat_refuses_anything_but_int(bad: object) -> None:
    price = Price(currency="USD", base=10**11, offset=12, fraction_digits=2)

    with pytest.raises(TypeError):
        sats_to_fiat(bad, price=price)  # type: ignore[arg-type]


def test_non_finite_and_unusable_prices_are_refused() -> None:
    price = Price(currency="USD", base=10**11, offset=12, fraction_digits=2)

    with pytest.raises(ValueError):
        fiat_to_sats(Decimal("NaN"), price=price)
    with pytest.raises(ValueError):
        fiat_to_sats(Decimal(1), price=Price(currency="USD", base=0, offset=12, fraction_digits=2))
