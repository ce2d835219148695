"""Real BOLT11 invoices for the fake Blink's simulated Lightning nodes.

Each simulated node (Blink's custodial node, a self-custodial "Spark" node, the outside LNURL host's
node) has a secp256k1 key; its invoices carry the payment hash, amount, creation time, expiry,
payment secret, a memo or a description hash, the payee key (``n``) and the features a modern payer
expects, and are signed with that key. Any BOLT11 decoder accepts them and verifies the signature.

The invoices are encoded here rather than with ``bolt11.encode``: that encoder builds the data part
in ``bitstring`` bit arrays and cost ~4 CPU ms per invoice, more than the service under test spends
on the request that asked for it, and the bench runs both on the same cores. This encoder writes the
same 5-bit words with integer arithmetic, signs the same message with the same key (coincurve's
RFC 6979 signatures are deterministic) and computes the bech32 checksum with a lookup table (the
``bech32`` package's loop was most of what remained). Its output is byte-for-byte what
``bolt11.encode`` gives for the same fields: tests/fakeblink/test_bolt11_mint.py holds it to that.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from bech32 import CHARSET
from bolt11 import Feature, Features, FeatureState, TagChar
from bolt11.exceptions import Bolt11InvalidDescriptionHashException
from bolt11.utils import msat_to_amount
from coincurve import PrivateKey

MIN_FINAL_CLTV_EXPIRY = 40
# BOLT 9: var_onion_optin and payment_secret are required by every current payer.
_FEATURES = Features.from_feature_list(
    {Feature.var_onion_optin: FeatureState.required, Feature.payment_secret: FeatureState.required}
)
_TIMESTAMP_WORDS = 7  # BOLT 11: a 35-bit timestamp
_MAX_FIELD_WORDS = 1023  # the data_length of a tagged field is two 5-bit words


def _words_of_int(value: int) -> list[int]:
    """Big-endian 5-bit words without leading zero words (BOLT 11 wants minimal integer fields)."""
    words: list[int] = []
    while value:
        words.append(value & 31)
        value >>= 5
    return words[::-1]


def _words_of_bytes(data: bytes) -> list[int]:
    """``data`` as 5-bit words, zero bits appended to fill the last one (bech32's convertbits)."""
    count = -(-len(data) * 8 // 5)
    value = int.from_bytes(data, "big") << (count * 5 - len(data) * 8)
    return [(value >> shift) & 31 for shift in range(5 * (count - 1), -1, -5)]


def _bytes_of_words(words: list[int]) -> bytes:
    """5-bit words as bytes, zero bits appended to fill the last byte (what bolt11 signs)."""
    value = 0
    for word in words:
        value = value << 5 | word
    size = -(-len(words) * 5 // 8)
    return (value << (size * 8 - len(words) * 5)).to_bytes(size, "big")


_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# The generator terms the top five bits of the checksum select, XORed together in advance (BIP 173's
# polymod does the five conditional XORs per character instead).
_POLYMOD_TABLE = tuple(
    functools.reduce(int.__xor__, (g for i, g in enumerate(_GENERATOR) if top >> i & 1), 0) for top in range(32)
)


def _bech32(hrp: str, words: list[int]) -> str:
    """BIP 173 bech32 (not bech32m, which BOLT 11 does not use) of ``words`` under ``hrp``."""
    checksum = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + words + [0] * 6:
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ value ^ _POLYMOD_TABLE[checksum >> 25]
    checksum ^= 1
    tail = [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join([CHARSET[w] for w in words + tail])


def _field(tag: TagChar, words: list[int]) -> list[int]:
    if len(words) > _MAX_FIELD_WORDS:
        raise ValueError(f"BOLT11 field {tag.value} too long ({len(words)} words)")
    return [CHARSET.index(tag.value), len(words) >> 5, len(words) & 31, *words]


def _bytes_field(tag: TagChar, data: bytes) -> list[int]:
    return _field(tag, _words_of_bytes(data))


# The feature bits never change: their field is built once, padded to whole words as bolt11 pads it.
_FEATURE_BITS = _FEATURES.data.bin + "0" * (-_FEATURES.data.len % 5)
_FEATURES_FIELD = _field(TagChar.features, [int(_FEATURE_BITS[i : i + 5], 2) for i in range(0, len(_FEATURE_BITS), 5)])
_CLTV_FIELD = _field(TagChar.min_final_cltv_expiry, _words_of_int(MIN_FINAL_CLTV_EXPIRY))


@dataclass(frozen=True)
class SimulatedNode:
    """A Lightning node the fake pretends to run. ``name`` is only for logs and dumps."""

    name: str
    private_key: str  # hex; a test key derived from the fake's seed, never a real node's

    @classmethod
    def derive(cls, name: str, seed: int | str) -> SimulatedNode:
        key = hashlib.sha256(f"fakeblink-node:{name}:{seed}".encode()).hexdigest()
        return cls(name=name, private_key=key)

    @functools.cached_property
    def _key(self) -> PrivateKey:
        return PrivateKey.from_hex(self.private_key)

    @functools.cached_property
    def pubkey(self) -> str:
        return self._key.public_key.format(compressed=True).hex()

    @functools.cached_property
    def _payee_field(self) -> list[int]:
        return _bytes_field(TagChar.payee, bytes.fromhex(self.pubkey))

    def mint(
        self,
        *,
        payment_hash: str,
        payment_secret: str,
        amount_sats: int,
        created_at: int,
        expiry_seconds: int,
        memo: str | None = None,
        description_hash: str | None = None,
        amount_msat: int | None = None,
    ) -> str:
        """A signed mainnet invoice. ``description_hash`` (hex) replaces the memo when given.

        The fields come in the order ``bolt11.encode`` writes them for the tags the library version
        of this method added: p, s, h or d, x, c, 9, n."""
        if not payment_hash or not payment_secret:
            raise ValueError("an invoice needs a payment hash and a payment secret")
        words = [(created_at >> shift) & 31 for shift in range(5 * (_TIMESTAMP_WORDS - 1), -1, -5)]
        words += _bytes_field(TagChar.payment_hash, bytes.fromhex(payment_hash))
        words += _bytes_field(TagChar.payment_secret, bytes.fromhex(payment_secret))
        if description_hash is not None:
            try:
                digest = bytes.fromhex(description_hash)
            except ValueError as exc:
                raise Bolt11InvalidDescriptionHashException() from exc
            words += _bytes_field(TagChar.description_hash, digest)
        else:
            words += _bytes_field(TagChar.description, (memo or "").encode())
        words += _field(TagChar.expire_time, _words_of_int(expiry_seconds))
        words += _CLTV_FIELD
        words += _FEATURES_FIELD
        words += self._payee_field
        msat = amount_msat if amount_msat is not None else amount_sats * 1000
        hrp = "lnbc" + (msat_to_amount(msat) if msat else "")
        signature = self._key.sign_recoverable(hrp.encode("ascii") + _bytes_of_words(words))
        return _bech32(hrp, words + _words_of_bytes(signature))
