"""LNURL-pay as BlinkPOS serves it for its pay codes (LUD-06 payRequest, LUD-16 ``name@host``): the
answers' shapes, the callback's amount check and the bech32 ``lnurl1…`` form, pure. The client side
(paying out to someone else's address) is ``client.py``; both agree on ``metadata_hash``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import bech32

from payments.lnurl.invoice_check import metadata_hash

MSAT_PER_SAT = 1000
# An amount in msat: digits only (no sign, exponent or fraction); 19 digits is past any real amount.
_AMOUNT = re.compile(r"[0-9]{1,19}")
LNURL_HRP = "lnurl"

__all__ = ["AmountRefused", "callback_amount_sats", "lnurl_encode", "lud_error", "metadata_hash", "pay_metadata"]


class AmountRefused(ValueError):
    """The callback's ``amount`` cannot be invoiced; the message is the LUD-06 ``reason``."""


def pay_metadata(*, text: str, identifier: str) -> str:
    """LUD-06 metadata (a JSON string, hashed into the invoice as-is) with LUD-16's identifier."""
    return json.dumps([["text/plain", text], ["text/identifier", identifier]], separators=(",", ":"))


def pay_request(*, callback: str, min_sats: int, max_sats: int, metadata: str) -> dict[str, Any]:
    return {
        "tag": "payRequest",
        "callback": callback,
        "minSendable": min_sats * MSAT_PER_SAT,
        "maxSendable": max_sats * MSAT_PER_SAT,
        "metadata": metadata,
        "commentAllowed": 0,
    }


def lud_error(reason: str) -> dict[str, str]:
    return {"status": "ERROR", "reason": reason}


def callback_amount_sats(raw: object, *, min_sats: int, max_sats: int) -> int:
    """The callback's ``amount`` (msat, a decimal string) as whole sats within the code's bounds.
    Blink invoices whole sats only, so a fraction of a sat is refused rather than rounded."""
    if not isinstance(raw, str) or not raw:
        raise AmountRefused("amount: required, in millisatoshis.")
    if not _AMOUNT.fullmatch(raw):
        raise AmountRefused("amount: must be a whole number of millisatoshis.")
    msat = int(raw)
    if msat % MSAT_PER_SAT:
        raise AmountRefused("amount: must be a multiple of 1000 msat (whole sats).")
    sats = msat // MSAT_PER_SAT
    if not min_sats <= sats <= max_sats:
        raise AmountRefused(f"amount: must be between {min_sats * MSAT_PER_SAT} and {max_sats * MSAT_PER_SAT} msat.")
    return sats


def lnurl_encode(url: str) -> str:
    """LUD-01: the URL's UTF-8 bytes in bech32 under ``lnurl``, upper case (smaller QR codes; bech32 is
    case-insensitive). Longer than BIP-173's 90 characters, which LNURL explicitly allows."""
    data = bech32.convertbits(url.encode("utf-8"), 8, 5, True)
    if data is None:  # convertbits only fails on values outside 0-255, which bytes never hold
        raise ValueError("cannot encode this URL")
    return bech32.bech32_encode(LNURL_HRP, data).upper()


def lnurl_decode(value: str) -> str:
    """The URL behind ``lnurl1…`` (tests and the chaos driver read posters with it)."""
    hrp, data = _bech32_decode_long(value.lower())
    if hrp != LNURL_HRP or data is None:
        raise ValueError("not an LNURL")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None:
        raise ValueError("not an LNURL")
    return bytes(raw).decode("utf-8")


def _bech32_decode_long(value: str) -> tuple[str | None, list[int] | None]:
    # bech32.bech32_decode refuses strings over 90 characters; LUD-01 lifts that limit, nothing else.
    pos = value.rfind("1")
    if pos < 1 or pos + 7 > len(value) or any(c not in bech32.CHARSET for c in value[pos + 1 :]):
        return None, None
    hrp, data = value[:pos], [bech32.CHARSET.find(c) for c in value[pos + 1 :]]
    if not bech32.bech32_verify_checksum(hrp, data):
        return None, None
    return hrp, data[:-6]
