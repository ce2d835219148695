"""The masking function: secrets are hidden by their name and by their shape; public values stay."""

from __future__ import annotations

import json

import pytest

from console.masking import MASK, is_secret_name, mask, mask_raw, mask_text

BOLT11 = (
    "lnbc25u1pjqxyzpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu"
    "sp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygs9qrsgq"
)
PAYMENT_HASH = "ab" * 32


@pytest.mark.parametrize(
    "name",
    [
        "apiKey",
        "api_key",
        "X-API-KEY",
        "user_api_key_encrypted",
        "key_hash",
        "digest",
        "preimage",
        "bolt11",
        "paymentRequest",
        "webhook_secret",
        "token",
        "password",
        "Authorization",
    ],
)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["paymentHash", "status", "totalAmount", "merchantId", "expiresAt", "memo"])
def test_public_names_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_values_under_secret_names_are_masked_recursively_and_public_ones_kept() -> None:
    doc = {
        "paymentHash": PAYMENT_HASH,
        "status": "pending",
        "legs": [{"preimage": "cd" * 32, "amount": 10}],
        "nested": {"apiKey": "anything at all", "digest": "ef" * 32},
        "empty_token": "",
    }
    masked = mask(doc)
    assert masked["paymentHash"] == PAYMENT_HASH  # a payment hash is public
    assert masked["status"] == "pending"
    assert masked["legs"] == [{"preimage": MASK, "amount": 10}]
    assert masked["nested"] == {"apiKey": MASK, "digest": MASK}
    assert masked["empty_token"] == ""  # nothing to hide; shows the field is empty


@pytest.mark.parametrize(
    "secret",
    [
        "blink_AbCdEf0123456789xyz",
        "bpos_ab12cd34_s3cr3tS3cr3tS3cr3t",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "gAAAAABlZ2V0dGluZy1lbmNyeXB0ZWQtZmllbGQtdmFsdWU=",
        BOLT11,
    ],
)
def test_secret_shapes_are_masked_inside_any_text(secret: str) -> None:
    text = f"the provider said: {secret} (retry later)"
    masked = mask_text(text)
    assert secret not in masked
    assert MASK in masked
    assert masked.startswith("the provider said: ")
    assert mask({"memo": text})["memo"] == masked  # and inside documents, under any name


def test_raw_json_values_are_parsed_masked_and_pretty_printed() -> None:
    raw = json.dumps({"paymentHash": PAYMENT_HASH, "bolt11": BOLT11, "memo": f"pay {BOLT11}"})
    shown = mask_raw(raw, key=f"tip:{PAYMENT_HASH}")
    assert BOLT11 not in shown
    assert PAYMENT_HASH in shown
    assert json.loads(shown)["bolt11"] == MASK


def test_plain_text_values_are_masked_by_shape() -> None:
    assert mask_raw("blink_AbCdEf0123456789xyz", key="provider:x") == MASK
    assert mask_raw("42", key="ratelimit:terminal:1:100") == "42"


def test_a_whole_value_is_masked_for_secret_or_session_keys() -> None:
    assert mask_raw('{"_auth_user_hash": "abc"}', key="django.contrib.sessions.cacheabc123") == MASK
    assert mask_raw("anything", key="webhook_secret:current") == MASK
