"""The pure LNURL-pay server pieces: the callback's amount check, the payRequest and metadata shapes,
and bech32 LNURL encoding (LUD-01's own example)."""

from __future__ import annotations

import json

import pytest

from payments.lnurl.server import (
    AmountRefused,
    callback_amount_sats,
    lnurl_decode,
    lnurl_encode,
    lud_error,
    pay_metadata,
    pay_request,
)

LUD01_URL = "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df"
LUD01_LNURL = (
    "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEP"
    "NXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS"
)


def test_lnurl_encoding_matches_lud01_and_round_trips() -> None:
    assert lnurl_encode(LUD01_URL) == LUD01_LNURL
    assert lnurl_decode(LUD01_LNURL) == LUD01_URL
    assert lnurl_decode(LUD01_LNURL.lower()) == LUD01_URL


@pytest.mark.parametrize("bad", ["", "lnurl1", LUD01_LNURL[:-1] + "Q", "lnbc1" + LUD01_LNURL[6:]])
def test_lnurl_decode_refuses_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        lnurl_decode(bad)


@pytest.mark.parametrize(("raw", "sats"), [("1000", 1), ("21000000", 21_000), ("0000002000", 2)])
def test_amounts_in_whole_sats_within_bounds(raw: str, sats: int) -> None:
    assert callback_amount_sats(raw, min_sats=1, max_sats=21_000) == sats


@pytest.mark.parametrize(
    "raw", [None, "", " 1000", "+1000", "-1000", "1000.0", "1e3", "0x3e8", "1001", "999", "22000000", "9" * 20, 1000]
)
def test_other_amounts_are_refused_naming_amount(raw: object) -> None:
    with pytest.raises(AmountRefused) as exc:
        callback_amount_sats(raw, min_sats=1, max_sats=21_000)
    assert str(exc.value).startswith("amount:")


def test_pay_request_and_metadata_shapes() -> None:
    metadata = pay_metadata(text="Tip for Dana at Cafe", identifier="dana@pos.example.com")
    assert json.loads(metadata) == [["text/plain", "Tip for Dana at Cafe"], ["text/identifier", "dana@pos.example.com"]]
    body = pay_request(callback="https://pos.example.com/lnurlp/1/callback", min_sats=1, max_sats=5, metadata=metadata)
    assert body == {
        "tag": "payRequest",
        "callback": "https://pos.example.com/lnurlp/1/callback",
        "minSendable": 1000,
        "maxSendable": 5000,
        "metadata": metadata,
        "commentAllowed": 0,
    }
    assert lud_error("amount: no") == {"status": "ERROR", "reason": "amount: no"}
