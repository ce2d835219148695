"""``SimulatedNode.mint``: its own encoder must give exactly the invoice ``bolt11.encode`` gives.

The reference below is the library route the fake used before (bitstring based, ~10x the CPU);
coincurve's RFC 6979 signatures are deterministic, so equal fields give equal strings."""

from __future__ import annotations

import bech32
import bolt11
import pytest
from bolt11 import MilliSatoshi, TagChar, Tags
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeblink.bolt11_mint import (
    _FEATURES,
    MIN_FINAL_CLTV_EXPIRY,
    SimulatedNode,
    _bech32,
    _bytes_of_words,
    _words_of_bytes,
)

NODE = SimulatedNode.derive("test", 7)


def _library_mint(
    node: SimulatedNode,
    *,
    payment_hash: str,
    payment_secret: str,
    msat: int,
    created_at: int,
    expiry_seconds: int,
    memo: str | None,
    description_hash: str | None,
) -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, payment_hash)
    tags.add(TagChar.payment_secret, payment_secret)
    if description_hash is not None:
        tags.add(TagChar.description_hash, description_hash)
    else:
        tags.add(TagChar.description, memo or "")
    tags.add(TagChar.expire_time, expiry_seconds)
    tags.add(TagChar.min_final_cltv_expiry, MIN_FINAL_CLTV_EXPIRY)
    tags.add(TagChar.features, _FEATURES)
    tags.add(TagChar.payee, node.pubkey)
    invoice = bolt11.Bolt11(currency="bc", date=created_at, amount_msat=MilliSatoshi(msat), tags=tags)
    return bolt11.encode(invoice, node.private_key, keep_payee=True)


hex32 = st.binary(min_size=32, max_size=32).map(bytes.hex)
invoices = st.fixed_dictionaries(
    {
        "payment_hash": hex32,
        "payment_secret": hex32,
        # under 1000 BTC: bolt11's amount shortener misreads whole multiples of 1000 BTC both ways
        "msat": st.one_of(st.integers(1, 10**14 - 1), st.integers(1, 10**8).map(lambda s: s * 1000)),
        "created_at": st.integers(0, 2**35 - 1),
        # >= 1: bolt11.decode cannot read a zero-length ``x`` field, and the fake never mints one
        "expiry_seconds": st.integers(1, 2**32),
        "description": st.one_of(
            st.tuples(st.just("memo"), st.one_of(st.none(), st.text(max_size=200))),
            st.tuples(st.just("hash"), hex32),
        ),
        "node": st.sampled_from(["blink", "spark", "outside"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(invoices)
def test_minted_invoices_decode_to_their_fields_and_match_the_library(fields: dict) -> None:
    node = SimulatedNode.derive(fields["node"], 1)
    kind, value = fields["description"]
    memo, description_hash = (value, None) if kind == "memo" else (None, value)
    common = {
        "payment_hash": fields["payment_hash"],
        "payment_secret": fields["payment_secret"],
        "created_at": fields["created_at"],
        "expiry_seconds": fields["expiry_seconds"],
        "memo": memo,
        "description_hash": description_hash,
    }
    msat = fields["msat"]
    minted = node.mint(amount_sats=msat // 1000, amount_msat=msat, **common)

    assert minted == _library_mint(node, msat=msat, **common)
    decoded = bolt11.decode(minted)  # verifies the signature against the ``n`` field
    assert decoded.signature is not None
    assert decoded.signature.recover_public_key() == node.pubkey == decoded.payee
    assert (decoded.currency, decoded.amount_msat, decoded.date) == ("bc", msat, fields["created_at"])
    assert (decoded.payment_hash, decoded.payment_secret) == (fields["payment_hash"], fields["payment_secret"])
    assert decoded.expiry == fields["expiry_seconds"]
    assert (decoded.description_hash, decoded.description) == (
        description_hash,
        None if description_hash else memo or "",
    )
    assert decoded.min_final_cltv_expiry == MIN_FINAL_CLTV_EXPIRY
    assert decoded.features is not None and decoded.features.feature_list == _FEATURES.feature_list


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20),
    st.lists(st.integers(0, 31), max_size=600),
    st.binary(max_size=100),
)
def test_the_word_and_checksum_helpers_agree_with_the_bech32_package(hrp: str, words: list[int], data: bytes) -> None:
    assert _bech32(hrp, words) == bech32.bech32_encode(hrp, words)
    assert _words_of_bytes(data) == bech32.convertbits(data, 8, 5, True)
    assert _bytes_of_words(words) == bytes(bech32.convertbits(words, 5, 8, True) or b"")


def test_amount_sats_is_used_when_no_msat_amount_is_given() -> None:
    minted = NODE.mint(
        payment_hash="ab" * 32,
        payment_secret="cd" * 32,
        created_at=1_700_000_000,
        amount_sats=2500,
        expiry_seconds=600,
        memo="Coffee",
    )
    reference = _library_mint(
        NODE,
        payment_hash="ab" * 32,
        payment_secret="cd" * 32,
        created_at=1_700_000_000,
        msat=2_500_000,
        expiry_seconds=600,
        memo="Coffee",
        description_hash=None,
    )
    assert minted == reference
    assert bolt11.decode(minted).amount_msat == 2_500_000


def test_a_bad_description_hash_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(bolt11.exceptions.Bolt11InvalidDescriptionHashException):
        NODE.mint(
            payment_hash="ab" * 32,
            payment_secret="cd" * 32,
            amount_sats=1,
            created_at=1,
            expiry_seconds=60,
            description_hash="not hex",
        )


def test_a_memo_too_long_for_a_bolt11_field_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        NODE.mint(
            payment_hash="ab" * 32,
            payment_secret="cd" * 32,
            amount_sats=1,
            created_at=1,
            expiry_seconds=60,
            memo="m" * 640,
        )
