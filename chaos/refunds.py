"""The refunds driver for the chaos soak: refund a completed sale through the stack's HTTP API, fund it
at the fake Blink (the merchant paying the funding invoice), and claim it as the customer's wallet
would (LNURL-withdraw, LUD-03): read the withdrawRequest, send an invoice of the customer's Blink
wallet to the callback.

``refund_and_claim`` needs a terminal key the merchant allowed to refund (``Terminal.can_refund``) and
a customer account at the fake (``POST /control/accounts``; its BTC wallet id). The bolt11s are never
written anywhere. Every wait is bounded; the result says how far the refund got, so the invariants
(one payout debit per refund, refunds within what each sale received) are checked afterwards from
PostgreSQL and the fake's ledger, not trusted from here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import bech32
import bolt11
import httpx

ON_BEHALF = """
mutation LnInvoiceCreateOnBehalfOfRecipient($input: LnInvoiceCreateOnBehalfOfRecipientInput!) {
  lnInvoiceCreateOnBehalfOfRecipient(input: $input) {
    errors { code message }
    invoice { paymentRequest paymentHash }
  }
}
"""
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


@dataclass
class RefundRun:
    payment_hash: str
    refund_id: int | None = None
    funded: bool = False
    claimed: bool = False
    status: str = ""
    error: str = ""


def lnurl_decode(lnurl: str) -> str:
    """LUD-01 bech32 without the 90-character limit of ``bech32.bech32_decode``."""
    text = lnurl.lower()
    pos = text.rfind("1")
    data = [_CHARSET.find(c) for c in text[pos + 1 :]]
    if pos < 1 or -1 in data or not bech32.bech32_verify_checksum(text[:pos], data):
        raise ValueError("not an LNURL")
    decoded = bech32.convertbits(data[:-6], 5, 8, False)
    if decoded is None:
        raise ValueError("not an LNURL")
    return bytes(decoded).decode()


def _customer_invoice(fake_url: str, wallet_id: str, amount_sats: int) -> str:
    variables = {
        "input": {
            "recipientWalletId": wallet_id,
            "amount": amount_sats,
            "externalId": uuid.uuid4().hex,
            "memo": "refund",
        }
    }
    reply = httpx.post(f"{fake_url}/graphql", json={"query": ON_BEHALF, "variables": variables}, timeout=10)
    reply.raise_for_status()
    payload = reply.json()["data"]["lnInvoiceCreateOnBehalfOfRecipient"]
    if payload["errors"]:
        raise RuntimeError(f"customer invoice refused: {payload['errors']}")
    return str(payload["invoice"]["paymentRequest"])


def _wait(api: httpx.Client, refund_id: int, done: set[str], *, claimable: bool, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = api.get(f"/api/v1/refunds/{refund_id}")
        if reply.status_code == 200:
            body = reply.json()
            if body["status"] in done and (not claimable or body.get("claim_lnurl")):
                return body
        time.sleep(0.5)
    return body


def refund_and_claim(
    *,
    api_url: str,
    api_key: str,
    fake_url: str,
    payment_hash: str,
    customer_wallet_id: str,
    amount_sats: int | None = None,
    tip_refunded: bool = False,
    timeout: float = 60.0,
) -> RefundRun:
    """Refund ``payment_hash`` (a completed sale), fund it at the fake and claim it; wait (bounded) for
    the payout. Never raises for the stack's answers: they are recorded in the result."""
    run = RefundRun(payment_hash=payment_hash)
    headers = {"Authorization": f"Api-Key {api_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=15) as api:
        body: dict[str, Any] = {"reason": "chaos refund", "tip_refunded": tip_refunded}
        if amount_sats is not None:
            body["amount_sats"] = amount_sats
        created = api.post(f"/api/v1/invoices/{payment_hash}/refunds", json=body)
        if created.status_code != 201:
            run.error = f"create {created.status_code}: {created.text[:200]}"
            return run
        refund = created.json()
        run.refund_id = int(refund["id"])
        funding_hash = bolt11.decode(refund["funding_payment_request"]).payment_hash
        httpx.post(f"{fake_url}/control/pay", json={"payment_hash": funding_hash}, timeout=10).raise_for_status()
        funded = _wait(api, run.refund_id, {"funded"}, claimable=True, timeout=timeout)
        run.funded = bool(funded.get("claim_lnurl"))
        if not run.funded:
            run.status, run.error = str(funded.get("status", "")), "not funded in time"
            return run
        claim_path = urlparse(lnurl_decode(funded["claim_lnurl"])).path
        params = api.get(claim_path).json()
        invoice = _customer_invoice(fake_url, customer_wallet_id, int(params["maxWithdrawable"]) // 1000)
        answer = api.get(urlparse(params["callback"]).path, params={"k1": params["k1"], "pr": invoice})
        run.claimed = answer.status_code == 200 and answer.json().get("status") == "OK"
        if not run.claimed:
            run.error = f"claim {answer.status_code}: {answer.text[:200]}"
        final = _wait(api, run.refund_id, {"paid", "failed"}, claimable=False, timeout=timeout)
        run.status = str(final.get("status", ""))
    return run
