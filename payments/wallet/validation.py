"""Input checks run before any request leaves the process.

Blink validates these too, but some of its answers are lossy (an out-of-range ``expiresIn`` is
silently replaced by the 4 h default; a fractional amount is truncated), and a request that never
goes out cannot have an unknown outcome. Each check raises ``InvalidInput`` with ``field`` set to
the Python argument name. Messages never echo secret values (payment requests, API keys).
"""

from __future__ import annotations

import re

from payments.wallet.errors import InvalidInput

# Blink's own limits (docs/ARCHITECTURE.md, Blink: scalar limits).
MAX_MEMO_BYTES = 639
MIN_EXPIRES_MINUTES = 1
MAX_EXPIRES_MINUTES = 1440
# Sanity cap: more sats than will ever exist is certainly a unit bug upstream.
MAX_SATS = 21_000_000 * 100_000_000

_EXTERNAL_ID = re.compile(r"[a-z0-9_-]{1,100}")
_USERNAME = re.compile(r"[0-9a-z_]{3,50}", re.IGNORECASE)
_USERNAME_FORBIDDEN_PREFIXES = ("1", "3", "bc1", "lnbc1")
_PAYMENT_HASH = re.compile(r"[0-9a-fA-F]{64}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
# Blink wallet ids are UUIDs.
_WALLET_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A bolt11 string: human-readable part starting with "ln", bech32 data. 7089 is the largest QR code.
_PAYMENT_REQUEST = re.compile(r"ln[0-9a-z]{10,7087}", re.IGNORECASE)
# Printable ASCII without spaces: anything else could not be a Blink key and might split a header.
_API_KEY = re.compile(r"[\x21-\x7e]{1,512}")
# A Relay cursor is opaque; Blink's are ledger ids. Printable ASCII, bounded, is all we pass back.
_CURSOR = re.compile(r"[\x21-\x7e]{1,512}")
# Transactions per page: Blink serves at most 100 per request.
MAX_PAGE_SIZE = 100


def _fail(field: str, message: str) -> InvalidInput:
    return InvalidInput("INVALID_INPUT", f"{field}: {message}", field=field)


def amount_sats(value: object, *, field: str = "amount_sats") -> int:
    # bool is an int subclass: True would otherwise be a 1-sat invoice.
    if type(value) is not int:
        raise _fail(field, f"must be an int number of sats, got {type(value).__name__}")
    if value <= 0:
        raise _fail(field, "must be greater than 0")
    if value > MAX_SATS:
        raise _fail(field, f"must be at most {MAX_SATS}")
    return value


def memo(value: object, *, field: str = "memo") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(field, f"must be a string or None, got {type(value).__name__}")
    size = len(value.encode("utf-8"))
    if size > MAX_MEMO_BYTES:
        raise _fail(field, f"is {size} bytes in UTF-8; Blink allows at most {MAX_MEMO_BYTES}")
    return value


def expires_in_minutes(value: object, *, field: str = "expires_in_minutes") -> int:
    if type(value) is not int:
        raise _fail(field, f"must be an int number of minutes, got {type(value).__name__}")
    if not MIN_EXPIRES_MINUTES <= value <= MAX_EXPIRES_MINUTES:
        raise _fail(field, f"must be between {MIN_EXPIRES_MINUTES} and {MAX_EXPIRES_MINUTES}")
    return value


def external_id(value: object, *, field: str = "external_id") -> str:
    if not isinstance(value, str) or not _EXTERNAL_ID.fullmatch(value):
        raise _fail(field, "must match ^[a-z0-9_-]{1,100}$ (lowercase only)")
    return value


def username(value: object, *, field: str = "username") -> str:
    if not isinstance(value, str) or not _USERNAME.fullmatch(value):
        raise _fail(field, "must be 3-50 characters of [0-9a-z_]")
    lowered = value.lower()
    if lowered.startswith(_USERNAME_FORBIDDEN_PREFIXES):
        raise _fail(field, "must not start with 1, 3, bc1 or lnbc1")
    # Blink compares usernames case-insensitively and stores them lower-cased.
    return lowered


def payment_hash(value: object, *, field: str = "payment_hash") -> str:
    if not isinstance(value, str) or not _PAYMENT_HASH.fullmatch(value):
        raise _fail(field, "must be 64 hex characters")
    return value.lower()


def currency(value: object, *, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise _fail(field, "must be a 3-letter currency code")
    return value.upper()


def wallet_id(value: object, *, field: str = "wallet_id") -> str:
    if not isinstance(value, str) or not _WALLET_ID.fullmatch(value):
        raise _fail(field, "must be a Blink wallet id (UUID)")
    return value


def payment_request(value: object, *, field: str = "payment_request") -> str:
    if not isinstance(value, str) or not _PAYMENT_REQUEST.fullmatch(value):
        raise _fail(field, "must be a BOLT11 payment request (ln...)")
    return value


def api_key(value: object, *, field: str = "api_key") -> str:
    if not isinstance(value, str) or not _API_KEY.fullmatch(value):
        raise _fail(field, "must be a non-empty printable string without spaces")
    return value


def page_size(value: object, *, field: str = "first") -> int:
    if type(value) is not int or not 1 <= value <= MAX_PAGE_SIZE:
        raise _fail(field, f"must be an int from 1 to {MAX_PAGE_SIZE}")
    return value


def cursor(value: object, *, field: str = "after") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CURSOR.fullmatch(value):
        raise _fail(field, "must be a cursor a previous page returned")
    return value
