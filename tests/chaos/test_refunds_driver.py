"""The chaos refunds driver reads the LNURLs the stack shows (longer than bech32's usual 90 characters)."""

from __future__ import annotations

import pytest

from chaos.refunds import lnurl_decode
from payments.lnurl.withdraw import lnurl_encode


def test_lnurl_round_trip() -> None:
    url = "https://pos.example.com/api/v1/refund-claims/" + "x" * 43
    assert lnurl_decode(lnurl_encode(url)) == url


def test_a_corrupted_lnurl_is_refused() -> None:
    encoded = lnurl_encode("https://pos.example.com/api/v1/refund-claims/abc")
    with pytest.raises(ValueError, match="LNURL"):
        lnurl_decode(encoded[:-1] + ("Q" if encoded[-1] != "Q" else "P"))
