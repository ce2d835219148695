"""LNURL-pay invoices need a description hash (LUD-06). Blink takes ``descriptionHash`` on the on-behalf
mutations only: the fake refuses it on ``lnInvoiceCreate`` as Blink's schema does, and honours it on
``lnInvoiceCreateOnBehalfOfRecipient`` (the bolt11 commits to the hash, no memo), also when the
recipient is the platform's own wallet, which is how BlinkPOS creates a pay code's invoice."""

from __future__ import annotations

import hashlib
from typing import Any

import bolt11
import httpx
import pytest

from fakeblink import FakeBlink
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient

HASH = hashlib.sha256(b'[["text/plain","Tip"]]').hexdigest()


def _raw(fake: FakeBlink, mutation: str, input_type: str, data: dict[str, Any]) -> dict[str, Any]:
    fields = "errors { message code } invoice { paymentHash }"
    query = f"mutation M($input: {input_type}!) {{ {mutation}(input: $input) {{ {fields} }} }}"
    reply = httpx.post(
        fake.url,
        json={"query": query, "variables": {"input": data}},
        headers={"X-API-KEY": fake.platform_api_key},
        timeout=5,
    )
    body: dict[str, Any] = reply.json()
    return body


def test_ln_invoice_create_has_no_description_hash_input(fake_blink: FakeBlink) -> None:
    body = _raw(
        fake_blink,
        "lnInvoiceCreate",
        "LnInvoiceCreateInput",
        {"walletId": fake_blink.platform_wallet_id, "amount": 10, "descriptionHash": HASH},
    )
    assert body.get("errors") and "descriptionHash" in body["errors"][0]["message"]
    assert not (body.get("data") or {}).get("lnInvoiceCreate")


def test_on_behalf_refuses_a_malformed_description_hash(fake_blink: FakeBlink) -> None:
    body = _raw(
        fake_blink,
        "lnInvoiceCreateOnBehalfOfRecipient",
        "LnInvoiceCreateOnBehalfOfRecipientInput",
        {"recipientWalletId": fake_blink.platform_wallet_id, "amount": 10, "descriptionHash": "abc"},
    )
    payload = (body.get("data") or {}).get("lnInvoiceCreateOnBehalfOfRecipient")
    assert body.get("errors") or (payload and payload["errors"] and payload["invoice"] is None)


def test_platform_invoice_with_description_hash_commits_to_it(fake_blink: FakeBlink, blink_client: BlinkClient) -> None:
    invoice = blink_client.create_invoice(
        amount_sats=2_100, memo=None, expires_in_minutes=15, external_id="paycode-1", description_hash=HASH
    )
    decoded = bolt11.decode(invoice.payment_request)
    assert decoded.description_hash == HASH and not decoded.description
    assert decoded.amount_msat == 2_100_000
    stored = fake_blink.invoice(invoice.payment_hash)
    assert stored is not None and stored["wallet_id"] == fake_blink.platform_wallet_id
    assert stored["external_id"] == "paycode-1"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"description_hash": "nothex"}, "description_hash"), ({"description_hash": HASH, "memo": "x"}, "memo")],
)
def test_client_refuses_bad_description_hash_before_any_request(
    fake_blink: FakeBlink, blink_client: BlinkClient, kwargs: dict[str, Any], field: str
) -> None:
    blink_client.create_invoice(amount_sats=1, memo=None, expires_in_minutes=15, external_id="warm")  # wallet id known
    before = fake_blink.request_count
    arguments: dict[str, Any] = {"amount_sats": 10, "memo": None, "expires_in_minutes": 15, "external_id": "p-2"}
    with pytest.raises(e.InvalidInput) as exc:
        blink_client.create_invoice(**{**arguments, **kwargs})
    assert exc.value.field == field
    assert fake_blink.request_count == before
