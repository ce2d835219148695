"""Creating customer invoices (docs/ARCHITECTURE.md, Flows 1); cancelling is ``invoice_cancel``.

Order of work in ``invoice_create``, and why:

1. Validate every input (amounts, tip, recipient, memo, currency) and convert the display amount
   with the cached provider price. A refused request never reaches the provider's invoice API and
   writes nothing.
2. Create the invoice on the platform wallet with a fresh ``externalId``. This is the only external
   call and it runs outside any transaction. If it fails, nothing is written (an invoice created by a
   call that timed out after Blink applied it expires unpaid; nobody was shown its bolt11).
3. One transaction: the split, its planned legs and the ``created`` event.
4. After commit: the hot store key ``tip:{paymentHash}``.

Steps 2-4 and the recipient checks are shared with pay codes and tips (``split_record``).

Field names in validation errors are the API's input names (``amount_sats``, ``staff_id``, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from blinkpos.logging import get_logger
from payments import redis_batch
from payments.domain.allocation import allocate, tip_from_percent
from payments.metrics import timed
from payments.models import Merchant, PaymentSplit, SplitProfile, SplitProfileShare, Staff, Terminal, TerminalGroup
from payments.services.pricing import price_get
from payments.services.shifts import pool_shift_for_sale
from payments.services.split_record import (
    DISPLAY_PLACES,
    UNKNOWN_PROFILE,
    UNKNOWN_STAFF,
    invalid,
    platform_invoice_create,
    recipient_shares,
    split_record,
    tip_recipient_label,
)
from payments.wallet.conversion import fiat_to_sats, sats_to_fiat
from payments.wallet.types import Price

log = get_logger(__name__)

__all__ = ["UNKNOWN_PROFILE", "UNKNOWN_STAFF", "invoice_create"]

MAX_MEMO_BYTES = 639  # Blink's limit for an invoice memo, in UTF-8 bytes


@dataclass(frozen=True, kw_only=True)
class _Amounts:
    base: int
    tip: int
    tip_percent: Decimal | None
    currency: str
    price: Price
    base_display: Decimal
    tip_display: Decimal


def _check_sats(value: object, field: str) -> int:
    if type(value) is not int:  # bool is an int subclass; 1.5 is not a number of sats
        raise invalid(field, "Must be a whole number of sats.")
    if value <= 0:
        raise invalid(field, "Must be greater than 0.")
    if value > settings.MAX_INVOICE_SATS:
        raise invalid(field, f"Must be at most {settings.MAX_INVOICE_SATS} sats.")
    return value


def _check_currency(currency: str | None, merchant: Merchant) -> str:
    code = (currency or merchant.display_currency or "").upper()
    if code not in settings.SUPPORTED_DISPLAY_CURRENCIES:
        raise invalid(
            "currency", f"Unsupported currency; use one of {', '.join(settings.SUPPORTED_DISPLAY_CURRENCIES)}."
        )
    return code


def _check_display_amount(value: Decimal, price: Price) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise invalid("amount_display", "Must be a decimal number.")
    if value <= 0:
        raise invalid("amount_display", "Must be greater than 0.")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > price.fraction_digits:
        raise invalid("amount_display", f"At most {price.fraction_digits} decimal places for {price.currency}.")
    return value


def _check_memo(memo: str) -> str:
    if not isinstance(memo, str):
        raise invalid("memo", "Must be a string.")
    if len(memo.encode("utf-8")) > MAX_MEMO_BYTES:
        raise invalid("memo", f"At most {MAX_MEMO_BYTES} bytes in UTF-8.")
    return memo


def _amounts(
    *,
    merchant: Merchant,
    currency: str,
    amount_sats: int | None,
    amount_display: Decimal | None,
    tip_percent: Decimal | None,
    tip_sats: int | None,
) -> _Amounts:
    if (amount_sats is None) == (amount_display is None):
        raise invalid(
            "amount_sats", "Give the amount either in sats (amount_sats) or in the display currency (amount_display)."
        )
    if tip_percent is not None and tip_sats is not None:
        raise invalid("tip_percent", "Give the tip either as a percent or in sats, not both.")
    if tip_percent is not None and (
        not isinstance(tip_percent, Decimal) or not tip_percent.is_finite() or not 0 <= tip_percent <= 100
    ):
        raise invalid("tip_percent", "Must be a number between 0 and 100.")
    if tip_percent is not None and tip_percent != tip_percent.quantize(Decimal("0.01")):
        raise invalid("tip_percent", "At most 2 decimal places.")
    if tip_sats is not None and (type(tip_sats) is not int or tip_sats < 0):
        raise invalid("tip_sats", "Must be a whole number of sats, 0 or more.")
    if amount_sats is not None:
        base = _check_sats(amount_sats, "amount_sats")

    # The only provider call before the invoice: a read, cached, and needed to explain the sale.
    price = price_get(currency=currency)
    if amount_display is not None:
        _check_display_amount(amount_display, price)
        base = fiat_to_sats(amount_display, price=price)
        if base <= 0:
            raise invalid("amount_display", "Less than one sat.")
        if base > settings.MAX_INVOICE_SATS:
            raise invalid("amount_display", f"Must be at most {settings.MAX_INVOICE_SATS} sats.")
        base_display = amount_display
    else:
        base_display = sats_to_fiat(base, price=price)

    tip_field = "tip_percent" if tip_percent is not None else "tip_sats"
    tip = tip_from_percent(base_amount=base, percent=tip_percent) if tip_percent is not None else (tip_sats or 0)
    if tip > base * settings.MAX_TIP_MULTIPLE:
        raise invalid(tip_field, f"The tip may be at most {settings.MAX_TIP_MULTIPLE}x the amount.")
    if base + tip > settings.MAX_INVOICE_SATS:
        raise invalid(tip_field, f"Amount plus tip must be at most {settings.MAX_INVOICE_SATS} sats.")
    return _Amounts(
        base=base,
        tip=tip,
        tip_percent=tip_percent,
        currency=currency,
        price=price,
        base_display=base_display.quantize(DISPLAY_PLACES),
        tip_display=sats_to_fiat(tip, price=price).quantize(DISPLAY_PLACES),
    )


def invoice_create(
    *,
    merchant: Merchant,
    terminal: Terminal | None,
    amount_sats: int | None = None,
    amount_display: Decimal | None = None,
    tip_percent: Decimal | None = None,
    tip_sats: int | None = None,
    staff: Staff | None = None,
    split_profile: SplitProfile | None = None,
    split_profile_shares: Sequence[SplitProfileShare] | None = None,
    memo: str = "",
    currency: str | None = None,
    pool_group: TerminalGroup | None = None,
) -> PaymentSplit:
    """Create a customer invoice for amount + tip on the platform wallet and record its split.

    ``pool_group``: the web POS's terminal group (it is no terminal), for pooled mode.
    ``currency`` (default: the merchant's display currency) is the unit of ``amount_display`` and of
    the display amounts stored on the split. ``split_profile_shares``: the profile's shares with their
    staff already loaded (``selectors.split_profile_with_shares_for_merchant``), which saves a query;
    read here when not given. They are checked exactly as if read here.

    Raises ``ValidationError`` (field-keyed; nothing at the provider, nothing written), ``ProviderRateLimited``
    (the merchant's platform account is at Blink's invoice limit: 429, nothing written),
    ``PlatformAccountInactive`` (503, nothing written), ``ProviderUnavailable`` (retry later; nothing written)
    or ``ProviderError``.
    Side effects: one provider invoice; one split with its legs and ``created`` event; ``tip:{hash}``.
    """
    # The writes after the commit (tip:{hash}, the status publish) and the latency sample: one round
    # trip when the create ends (payments/redis_batch.py).
    with redis_batch.batched(), timed("create_invoice"):
        if not merchant.is_active:
            raise invalid("merchant", "This merchant is not active.")
        if terminal is not None and (terminal.merchant_id != merchant.pk or not terminal.is_active):
            raise invalid("terminal", "This terminal is not active for this merchant.")
        memo = _check_memo(memo)
        code = _check_currency(currency, merchant)
        shares, staff_by_wallet = recipient_shares(merchant, staff, split_profile, split_profile_shares)
        amounts = _amounts(
            merchant=merchant,
            currency=code,
            amount_sats=amount_sats,
            amount_display=amount_display,
            tip_percent=tip_percent,
            tip_sats=tip_sats,
        )
        # Pooled mode: the tip stays on the platform wallet for the shift's pool (no tip leg); the base
        # is still forwarded per sale, and sum(legs) + pooled_amount == total.
        shift = (
            pool_shift_for_sale(merchant=merchant, terminal=terminal, group=pool_group) if amounts.base > 0 else None
        )
        pooled = amounts.tip if shift is not None else 0
        allocations = allocate(
            base_amount=amounts.base,
            tip_amount=amounts.tip - pooled,
            merchant=merchant.wallet_id,
            tip_shares=shares if shift is None else [],
        )
        total = amounts.base + amounts.tip
        external_id = uuid.uuid4().hex
        expiry_minutes = settings.INVOICE_EXPIRY_MINUTES
        invoice = platform_invoice_create(
            merchant=merchant, total=total, memo=memo or None, external_id=external_id, expiry_minutes=expiry_minutes
        )
        return split_record(
            merchant=merchant,
            invoice=invoice,
            external_id=external_id,
            expiry_minutes=expiry_minutes,
            allocations=allocations,
            staff_by_wallet=staff_by_wallet,
            fields={
                "terminal": terminal,
                "total_amount": total,
                "base_amount": amounts.base,
                "tip_amount": amounts.tip,
                "tip_percent": amounts.tip_percent,
                "display_currency": amounts.currency,
                "base_amount_display": amounts.base_display,
                "tip_amount_display": amounts.tip_display,
                "sats_per_unit": amounts.price.sats_per_unit.quantize(DISPLAY_PLACES),
                "tip_recipient": tip_recipient_label(staff, split_profile),
                "staff": staff,
                "split_profile": split_profile,
                "memo": memo,
                "shift": shift,
                "pooled_amount": pooled,
                "metadata": _metadata(amounts, amount_display is not None, expiry_minutes),
            },
        )


def _metadata(amounts: _Amounts, from_display: bool, expiry_minutes: int) -> dict[str, Any]:
    return {
        "amount_input": "display" if from_display else "sats",
        "price": {"base": amounts.price.base, "offset": amounts.price.offset, "digits": amounts.price.fraction_digits},
        "expires_in_minutes": expiry_minutes,
    }
