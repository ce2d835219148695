"""Field checks for one entry of the original Node service's ``.tip-store.json``.

The file is a JSON object keyed by payment hash. Each value holds what the old server needed to
forward the payment: ``baseAmount`` / ``tipAmount`` (sats), ``tipPercent``, ``tipRecipient`` (a Blink
username), ``userWalletId`` (where the base went), ``userApiKey`` (the merchant's key),
``displayCurrency``, ``baseAmountDisplay`` / ``tipAmountDisplay``, ``memo`` and a creation time in
epoch milliseconds (``timestamp`` in the file store, ``createdAt`` in the later Redis format).

Checks here look at one entry alone; who the merchant and staff are is decided afterwards
(``legacy_import_parties``). A rejected entry raises ``EntryInvalid`` whose message names the field
and never contains the value of a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from payments.wallet import validation
from payments.wallet.errors import InvalidInput

HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")
DISPLAY_QUANTUM = Decimal("0.00000001")
MAX_DISPLAY = Decimal("1e12")  # DecimalField(max_digits=20, decimal_places=8)
# A clock a little ahead on the old server is tolerated; further in the future is bad data.
FUTURE_SKEW = timedelta(minutes=5)
# The old POS also accepted a recipient written as a Blink Lightning address.
BLINK_ADDRESS_SUFFIX = "@blink.sv"


class EntryInvalid(Exception):
    """One entry cannot be imported; the message is the reason reported (never contains a secret)."""


@dataclass(frozen=True, kw_only=True)
class LegacyEntry:
    payment_hash: str
    base_amount: int  # sats
    tip_amount: int  # sats
    tip_percent: Decimal | None
    tip_recipient: str  # a lower-cased Blink username when tip_amount > 0
    user_wallet_id: str
    user_api_key: str = field(repr=False)
    display_currency: str
    base_amount_display: Decimal | None
    tip_amount_display: Decimal | None
    memo: str
    created_at: datetime


def _int_field(entry: Mapping[str, Any], name: str, *, required: bool = True) -> int:
    if name not in entry or entry[name] is None:
        if required:
            raise EntryInvalid(f"{name}: missing")
        return 0
    value = entry[name]
    # bool is an int in Python; a float like 10.0 is accepted only when it is whole.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EntryInvalid(f"{name}: not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise EntryInvalid(f"{name}: not an integer")
    if value < 0:
        raise EntryInvalid(f"{name}: negative")
    return int(value)


def _decimal_field(entry: Mapping[str, Any], name: str) -> Decimal | None:
    value = entry.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EntryInvalid(f"{name}: not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise EntryInvalid(f"{name}: not a number") from None
    if not number.is_finite() or number < 0 or number >= MAX_DISPLAY:
        raise EntryInvalid(f"{name}: out of range")
    return number.quantize(DISPLAY_QUANTUM)


def _str_field(entry: Mapping[str, Any], name: str, *, max_length: int, default: str = "") -> str:
    value = entry.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise EntryInvalid(f"{name}: not a string")
    if len(value) > max_length:
        raise EntryInvalid(f"{name}: longer than {max_length} characters")
    return value


def _created_at(entry: Mapping[str, Any], now: datetime) -> datetime:
    name = "createdAt" if entry.get("createdAt") is not None else "timestamp"
    if entry.get(name) is None:
        raise EntryInvalid("createdAt/timestamp: missing")
    millis = _int_field(entry, name)
    try:
        created_at = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise EntryInvalid(f"{name}: out of range") from None
    if created_at > now + FUTURE_SKEW:
        raise EntryInvalid(f"{name}: in the future")
    return created_at


def _api_key(entry: Mapping[str, Any]) -> str:
    value = entry.get("userApiKey")
    if value is None or value == "":
        return ""
    try:
        return validation.api_key(value)
    except InvalidInput:
        # Never the value: a malformed key is still somebody's key.
        raise EntryInvalid("userApiKey: not a Blink API key (printable characters, no spaces)") from None


def _recipient(entry: Mapping[str, Any], *, tip: int) -> str:
    raw = _str_field(entry, "tipRecipient", max_length=50).strip().lstrip("@")
    if tip == 0:
        return raw  # kept as the old record had it; nobody is paid
    if not raw:
        raise EntryInvalid("tipRecipient: missing for a tip")
    if raw.lower().endswith(BLINK_ADDRESS_SUFFIX):
        raw = raw[: -len(BLINK_ADDRESS_SUFFIX)]
    try:
        return validation.username(raw)
    except InvalidInput:
        raise EntryInvalid("tipRecipient: not a Blink username") from None


def parse_entry(key: object, raw: object, *, now: datetime, merchant_given: bool) -> LegacyEntry:
    """Validate one entry of the legacy file. Raises ``EntryInvalid`` with a reason naming the field."""
    if not isinstance(key, str) or not HASH_RE.match(key):
        raise EntryInvalid("payment hash: not 64 hex characters")
    if not isinstance(raw, dict):
        raise EntryInvalid("entry: not a JSON object")
    base = _int_field(raw, "baseAmount")
    tip = _int_field(raw, "tipAmount")
    if base + tip <= 0:
        raise EntryInvalid("baseAmount + tipAmount: must be positive")
    tip_percent = _decimal_field(raw, "tipPercent")
    if tip_percent is not None and tip_percent > 100:
        raise EntryInvalid("tipPercent: not between 0 and 100")
    created_at = _created_at(raw, now)
    user_wallet_id = _str_field(raw, "userWalletId", max_length=100).strip()
    if not user_wallet_id and not merchant_given:
        raise EntryInvalid("userWalletId: missing (and no --merchant given)")
    user_api_key = _api_key(raw)
    recipient = _recipient(raw, tip=tip)
    currency = _str_field(raw, "displayCurrency", max_length=10, default="BTC").upper() or "BTC"
    return LegacyEntry(
        payment_hash=key.lower(),
        base_amount=base,
        tip_amount=tip,
        tip_percent=tip_percent.quantize(Decimal("0.01")) if tip_percent is not None else None,
        tip_recipient=recipient,
        user_wallet_id=user_wallet_id,
        user_api_key=user_api_key,
        display_currency=currency,
        base_amount_display=_decimal_field(raw, "baseAmountDisplay"),
        tip_amount_display=_decimal_field(raw, "tipAmountDisplay"),
        memo=_str_field(raw, "memo", max_length=1000),
        created_at=created_at,
    )
