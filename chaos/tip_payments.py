"""Tip-only payments for the soak: a customer scans a staff or team pay code (LNURL-pay served by
BlinkPOS, LUD-16 address), asks the callback for an invoice and pays it at the fake Blink, the way a
Lightning wallet would. The bolt11 is decoded for its payment hash only and never written anywhere.

    result = tip_payment(client, base_url=..., fake_url=..., username="t0_c", rng=random.Random(1))

``chaos.djtool setup`` creates one staff code and one team code per merchant (``paycodes`` in its
answer); the soak mixes these payments into its sales, and the money invariants cover them like any
split (a tip-only split's legs sum to what it received).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

import bolt11
import httpx


@dataclass
class TipPaymentResult:
    username: str
    amount_sats: int = 0
    payment_hash: str = ""
    paid: bool = False
    error: str = ""


def _same_server(base_url: str, url: str) -> str:
    """The callback on the server under test: the payRequest names the host BlinkPOS thinks it has,
    which behind the soak's proxy or on loopback may differ only in scheme and port."""
    parts = urlsplit(url)
    return f"{base_url.rstrip('/')}{parts.path}"


def tip_payment(
    client: httpx.Client, *, base_url: str, fake_url: str, username: str, rng: random.Random, max_sats: int = 5_000
) -> TipPaymentResult:
    result = TipPaymentResult(username=username)
    try:
        pay_request = client.get(f"{base_url.rstrip('/')}/.well-known/lnurlp/{username}")
        if pay_request.status_code != 200:
            result.error = f"payRequest {pay_request.status_code}"
            return result
        body = pay_request.json()
        low = -(-int(body["minSendable"]) // 1000)
        high = min(int(body["maxSendable"]) // 1000, max_sats)
        result.amount_sats = rng.randint(low, max(low, high))
        invoice = client.get(
            _same_server(base_url, str(body["callback"])), params={"amount": str(result.amount_sats * 1000)}
        )
        answer = invoice.json()
        if invoice.status_code != 200 or "pr" not in answer:
            result.error = f"callback {invoice.status_code}: {answer.get('reason', '')}"[:160]
            return result
        result.payment_hash = str(bolt11.decode(answer["pr"]).payment_hash)
        paid = client.post(f"{fake_url.rstrip('/')}/control/pay", json={"payment_hash": result.payment_hash})
        result.paid = paid.status_code == 200
        if not result.paid:
            result.error = f"pay {paid.status_code}"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        result.error = type(exc).__name__
    return result
