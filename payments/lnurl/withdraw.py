"""LNURL-withdraw (LUD-03) for refund claims, pure: the ``withdrawRequest`` a customer's wallet reads and
the check of the invoice it sends back (docs/ARCHITECTURE.md, money rule 8).

The claim is for one exact amount: ``minWithdrawable == maxWithdrawable``. The invoice must decode
with a valid signature, be for mainnet, for exactly that amount, have enough life left, and carry a
payment hash our books never saw (``hash_seen``). A withdraw invoice has no LNURL metadata, so there is
no description hash to match (that is LUD-06's rule for pay requests, not LUD-03's).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import bech32

from payments.lnurl.invoice_check import MAINNET, CheckedInvoice, InvoiceRefusal, _decode

WITHDRAW_TAG = "withdrawRequest"


def withdraw_request(*, callback: str, k1: str, amount_sats: int, description: str) -> dict[str, Any]:
    """LUD-03's first answer: one exact amount in millisatoshis."""
    return {
        "tag": WITHDRAW_TAG,
        "callback": callback,
        "k1": k1,
        "defaultDescription": description,
        "minWithdrawable": amount_sats * 1000,
        "maxWithdrawable": amount_sats * 1000,
    }


def lnurl_encode(url: str) -> str:
    """LUD-01: the URL as bech32 with the ``lnurl`` prefix, upper case for a compact QR."""
    data = bech32.convertbits(url.encode("utf-8"), 8, 5)
    assert data is not None  # 8-to-5 bit conversion with padding never fails
    return bech32.bech32_encode("lnurl", data).upper()


def lnurl_error(reason: str) -> dict[str, str]:
    return {"status": "ERROR", "reason": reason}


LNURL_OK = {"status": "OK"}


def check_claim_invoice(
    payment_request: str,
    *,
    amount_msat: int,
    hash_seen: Callable[[str], bool],
    min_remaining_seconds: int,
    now: datetime | None = None,
) -> CheckedInvoice | InvoiceRefusal:
    """The customer's invoice for a refund, checked before it is committed."""
    decoded = _decode(payment_request.strip() if isinstance(payment_request, str) else payment_request)
    if isinstance(decoded, InvoiceRefusal):
        return decoded
    if decoded.currency != MAINNET:
        return InvoiceRefusal(code="wrong_network", reason="the invoice is not for bitcoin mainnet")
    if decoded.amount_msat is None or int(decoded.amount_msat) != amount_msat:
        return InvoiceRefusal(code="wrong_amount", reason=f"the invoice must be for exactly {amount_msat // 1000} sats")
    now = now or datetime.now(UTC)
    expires_at = datetime.fromtimestamp(decoded.date + decoded.expiry, tz=UTC)
    if expires_at - now < timedelta(seconds=min_remaining_seconds):
        return InvoiceRefusal(code="expires_too_soon", reason="the invoice has expired or expires too soon")
    payment_hash = decoded.payment_hash.lower()
    if hash_seen(payment_hash):
        return InvoiceRefusal(code="payment_hash_reused", reason="this invoice's payment hash was already used")
    return CheckedInvoice(
        payment_request=payment_request.strip(),
        payment_hash=payment_hash,
        amount_msat=amount_msat,
        expires_at=expires_at,
        payee=str(decoded.payee or ""),
        description_hash=str(decoded.description_hash or ""),
    )
