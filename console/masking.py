"""Masking what the Redis browser and the failure list show: nothing secret reaches an operator's screen.

Two nets, so a secret is caught whether it sits under a telling name or not:

- by name: any mapping key that names a secret (API keys, key digests, preimages, bolt11 / payment
  requests, secrets, tokens, passwords, encrypted blobs, authorization headers) has its value
  replaced, whatever the value is;
- by shape: inside any string, Blink API keys (``blink_...``), terminal keys (``bpos_...``), Svix
  secrets (``whsec_...``), Fernet tokens and BOLT11 invoices (``lnbc...``) are replaced.

Payment hashes are public identifiers (they are the keys of ``tip:{hash}``) and are left alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "••••••"
# A cache-backed session's value is the signed-in user's session (auth hash included): never shown.
SESSION_KEY_PREFIX = "django.contrib.sessions"

# Lower-cased, with ``-`` and ``_`` removed before comparing, so apiKey, api_key and X-API-KEY all match.
_SECRET_NAME_PARTS = (
    "apikey",
    "keyhash",
    "digest",
    "preimage",
    "bolt11",
    "paymentrequest",
    "secret",
    "token",
    "password",
    "encrypted",
    "authorization",
    "macaroon",
)

_SECRET_SHAPES = re.compile(
    r"""
    \bblink_[A-Za-z0-9]{8,}              # Blink API key
    | \bbpos_[A-Za-z0-9]+_[A-Za-z0-9_\-]+  # terminal API key (prefix + secret)
    | \bwhsec_[A-Za-z0-9+/=]{8,}         # Svix webhook secret
    | \bgAAAAA[A-Za-z0-9_\-=]{20,}        # Fernet token (an encrypted field)
    | \bln(?:bc|tb|bcrt|tbs)[0-9]*[munp]?1[02-9ac-hj-np-z]{20,}  # BOLT11 invoice
    """,
    re.VERBOSE | re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    folded = name.lower().replace("_", "").replace("-", "")
    return any(part in folded for part in _SECRET_NAME_PARTS)


def mask_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced."""
    return _SECRET_SHAPES.sub(MASK, text)


def mask(value: Any) -> Any:
    """A copy of ``value`` (decoded JSON: dicts, lists, scalars) with secrets masked, recursively."""
    if isinstance(value, dict):
        return {k: (MASK if is_secret_name(str(k)) and v not in (None, "") else mask(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_raw(raw: str, *, key: str = "") -> str:
    """A Redis string value as an operator may see it: JSON is parsed, masked and pretty-printed; other
    text is masked by shape. A key whose own name names a secret, or a session's, is masked whole."""
    if key and (is_secret_name(key.split(":", 1)[0]) or key.startswith(SESSION_KEY_PREFIX)):
        return MASK
    try:
        decoded = json.loads(raw)
    except ValueError:
        return mask_text(raw)
    return json.dumps(mask(decoded), indent=2, sort_keys=True, ensure_ascii=False)


def mask_cell(value: Any) -> Any:
    """A database cell: as ``mask``, and a JSON document that arrives as text (Django reads ``jsonb`` as
    text on a raw cursor) is parsed first, so secrets under telling names inside it are masked too."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return mask(json.loads(value))
        except ValueError:
            return mask_text(value)
    return mask(value)
