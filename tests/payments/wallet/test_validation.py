"""Bad input is refused before any request leaves the process, with ``InvalidInput.field`` set.

The client under test uses a transport that records every request: an empty record proves no
request was made."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from payments.wallet.client import BlinkClient
from payments.wallet.errors import InvalidInput, WalletUnavailable

from .conftest import VALID_WALLET_ID, RecordingTransport

HASH = "ab" * 32
BOLT11 = "lnbc10n1p" + "q" * 100
MULTIBYTE_640 = "\u20ac" * 213 + "a"  # 213 * 3 + 1 = 640 bytes in UTF-8, but only 214 characters


def _create(**overrides: Any) -> Callable[[BlinkClient], object]:
    kwargs: dict[str, Any] = {"amount_sats": 1, "memo": None, "expires_in_minutes": 15, "external_id": "sale-1"}
    kwargs |= overrides
    return lambda c: c.create_invoice(**kwargs)


def _create_for(**overrides: Any) -> Callable[[BlinkClient], object]:
    kwargs: dict[str, Any] = {
        "recipient_wallet_id": VALID_WALLET_ID,
        "amount_sats": 1,
        "memo": None,
        "external_id": "leg-1",
    }
    kwargs |= overrides
    return lambda c: c.create_invoice_for_recipient(**kwargs)


CASES: list[tuple[str, Callable[[BlinkClient], object], str]] = [
    ("zero amount", _create(amount_sats=0), "amount_sats"),
    ("negative amount", _create(amount_sats=-5), "amount_sats"),
    ("bool amount", _create(amount_sats=True), "amount_sats"),
    ("float amount", _create(amount_sats=1.0), "amount_sats"),
    ("string amount", _create(amount_sats="100"), "amount_sats"),
    ("absurd amount", _create(amount_sats=21_000_000 * 100_000_000 + 1), "amount_sats"),
    ("memo of 640 ascii bytes", _create(memo="a" * 640), "memo"),
    ("memo of 640 multibyte bytes", _create(memo=MULTIBYTE_640), "memo"),
    ("expiry 0", _create(expires_in_minutes=0), "expires_in_minutes"),
    ("expiry 1441", _create(expires_in_minutes=1441), "expires_in_minutes"),
    ("bool expiry", _create(expires_in_minutes=True), "expires_in_minutes"),
    ("uppercase external id", _create(external_id="Sale-1"), "external_id"),
    ("empty external id", _create(external_id=""), "external_id"),
    ("external id with a space", _create(external_id="sale 1"), "external_id"),
    ("external id with a newline", _create(external_id="sale-1\n"), "external_id"),
    ("external id of 101 chars", _create(external_id="a" * 101), "external_id"),
    ("recipient wallet not a uuid", _create_for(recipient_wallet_id="alice"), "recipient_wallet_id"),
    ("on-behalf zero amount", _create_for(amount_sats=0), "amount_sats"),
    ("on-behalf expiry 1441", _create_for(expires_in_minutes=1441), "expires_in_minutes"),
    ("on-behalf memo too long", _create_for(memo="\u00e9" * 320), "memo"),
    ("short hash", lambda c: c.invoice_status(payment_hash="ab" * 31), "payment_hash"),
    ("non-hex hash", lambda c: c.invoice_status(payment_hash="zz" * 32), "payment_hash"),
    ("hash with newline", lambda c: c.payment_lookup(payment_hash=HASH + "\n"), "payment_hash"),
    ("cancel bad hash", lambda c: c.cancel_invoice(payment_hash="nope"), "payment_hash"),
    ("username too short", lambda c: c.resolve_username(username="ab"), "username"),
    ("username with a dash", lambda c: c.resolve_username(username="al-ice"), "username"),
    ("username starting with 1", lambda c: c.resolve_username(username="1alice"), "username"),
    ("username starting with bc1", lambda c: c.resolve_username(username="BC1alice"), "username"),
    ("username starting with lnbc1", lambda c: c.resolve_username(username="lnbc1xyz"), "username"),
    ("username of 51 chars", lambda c: c.resolve_username(username="a" * 51), "username"),
    ("not a bolt11", lambda c: c.pay_invoice(payment_request="hello"), "payment_request"),
    ("bolt11 with a space", lambda c: c.pay_invoice(payment_request=BOLT11 + " "), "payment_request"),
    ("pay memo too long", lambda c: c.pay_invoice(payment_request=BOLT11, memo="x" * 640), "memo"),
    ("currency of 4 letters", lambda c: c.btc_price(currency="USDT"), "currency"),
    ("currency with digits", lambda c: c.btc_price(currency="US1"), "currency"),
    ("empty api key", lambda c: c.key_info(api_key=""), "api_key"),
    ("api key with a newline", lambda c: c.key_info(api_key="blink_abc\nX-Evil: 1"), "api_key"),
]


@pytest.mark.parametrize(("case", "call", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_request(
    offline_client: BlinkClient,
    recording: RecordingTransport,
    case: str,
    call: Callable[[BlinkClient], object],
    field: str,
) -> None:
    # when
    with pytest.raises(InvalidInput) as caught:
        call(offline_client)

    # then
    assert caught.value.field == field
    assert field in caught.value.message
    assert recording.requests == []


def test_memo_of_exactly_639_multibyte_bytes_is_accepted(
    offline_client: BlinkClient, recording: RecordingTransport
) -> None:
    # given 213 euro signs: 639 bytes; the (recording) transport answers 500, so the call is unavailable
    with pytest.raises(WalletUnavailable):
        offline_client.create_invoice(amount_sats=1, memo="\u20ac" * 213, expires_in_minutes=15, external_id="ok")

    # then validation let it through: exactly one request went out
    assert len(recording.requests) == 1


def test_boundaries_are_accepted(offline_client: BlinkClient, recording: RecordingTransport) -> None:
    for expiry in (1, 1440):
        with pytest.raises(WalletUnavailable):
            offline_client.create_invoice(amount_sats=1, memo=None, expires_in_minutes=expiry, external_id="a" * 100)

    assert len(recording.requests) == 2


def test_client_refuses_a_malformed_configuration() -> None:
    with pytest.raises(InvalidInput) as caught:
        BlinkClient(url="http://blink.invalid/graphql", api_key="blink_key", wallet_id="not-a-uuid")
    assert caught.value.field == "wallet_id"

    with pytest.raises(InvalidInput) as caught:
        BlinkClient(url="http://blink.invalid/graphql", api_key="", wallet_id=VALID_WALLET_ID)
    assert caught.value.field == "api_key"
