"""``check_payout_invoice``: each refusal, with invoices minted by a simulated node (real BOLT11)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import bolt11
import pytest
from bolt11 import MilliSatoshi, TagChar, Tags

from fakeblink.bolt11_mint import SimulatedNode
from payments.lnurl.invoice_check import CheckedInvoice, InvoiceRefusal, check_payout_invoice, metadata_hash

NODE = SimulatedNode.derive("test", 1)
METADATA = '[["text/plain","Sats for olga"],["text/identifier","olga@wallet.example"]]'
HASH = "ab" * 32


def _mint(*, sats: int = 100, created: int | None = None, expiry: int = 3600, dh: str | None = None) -> str:
    return NODE.mint(
        payment_hash=HASH,
        payment_secret="cd" * 32,
        amount_sats=sats,
        created_at=int(time.time()) if created is None else created,
        expiry_seconds=expiry,
        description_hash=metadata_hash(METADATA) if dh is None else dh,
    )


def _check(pr: str, *, msat: int = 100_000, seen: frozenset[str] = frozenset()) -> CheckedInvoice | InvoiceRefusal:
    return check_payout_invoice(pr, amount_msat=msat, metadata=METADATA, hash_seen=lambda h: h in seen)


def test_a_good_invoice_passes_with_its_facts() -> None:
    result = _check(_mint())
    assert isinstance(result, CheckedInvoice)
    assert (result.payment_hash, result.amount_sats, result.payee) == (HASH, 100, NODE.pubkey)
    assert result.description_hash == hashlib.sha256(METADATA.encode()).hexdigest()
    assert result.expires_at > datetime.now(UTC)
    assert "payment_request" not in repr(result)


def _testnet_invoice() -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, HASH)
    tags.add(TagChar.payment_secret, "cd" * 32)
    tags.add(TagChar.description_hash, metadata_hash(METADATA))
    invoice = bolt11.Bolt11(currency="tb", date=int(time.time()), amount_msat=MilliSatoshi(100_000), tags=tags)
    return bolt11.encode(invoice, NODE.private_key)


def _amountless_invoice() -> str:
    tags = Tags()
    tags.add(TagChar.payment_hash, HASH)
    tags.add(TagChar.payment_secret, "cd" * 32)
    tags.add(TagChar.description_hash, metadata_hash(METADATA))
    return bolt11.encode(bolt11.Bolt11(currency="bc", date=int(time.time()), tags=tags), NODE.private_key)


@pytest.mark.parametrize(
    ("make", "kwargs", "code"),
    [
        (lambda: "lnbc1garbage", {}, "undecodable"),
        (lambda: "", {}, "undecodable"),
        (lambda: _mint()[:-5] + "qqqqq", {}, "undecodable"),  # checksum broken
        (_testnet_invoice, {}, "wrong_network"),
        (_amountless_invoice, {}, "no_amount"),
        (lambda: _mint(sats=101), {}, "wrong_amount"),
        (lambda: _mint(), {"msat": 100_001}, "wrong_amount"),  # msat precision: never rounded
        (lambda: _mint(created=int(time.time()) - 7200), {}, "expired"),
        (lambda: _mint(expiry=60), {}, "expires_too_soon"),
        (lambda: _mint(dh="00" * 32), {}, "description_hash_mismatch"),
        (lambda: _mint(), {"seen": frozenset({HASH})}, "payment_hash_reused"),
    ],
)
def test_refusals(make: object, kwargs: dict, code: str) -> None:
    assert callable(make)
    result = _check(make(), **kwargs)
    assert isinstance(result, InvoiceRefusal)
    assert result.code == code and result.reason
