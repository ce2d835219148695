"""The payout invoice is checked before anyone commits it (docs/ARCHITECTURE.md, money rule 8).

An invoice an outside LNURL server hands us is untrusted input that decides where money goes and how
much. ``check_payout_invoice`` decodes it with the ``bolt11`` library (signature verified against the
payee key it names or recovers) and refuses it unless: it is a mainnet invoice, its amount is exactly
what was asked, it has at least ``min_remaining_seconds`` of life left, its description hash is the
SHA-256 of the LNURL metadata (LUD-06), and its payment hash was never seen before (``hash_seen``,
which the caller answers from its own books: another leg, an incoming sale).

The result is a ``CheckedInvoice`` or an ``InvoiceRefusal`` (machine ``code`` + human ``reason``), never
an exception, so the forward can record the refusal on the leg and never pay it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import bolt11
from bolt11.exceptions import Bolt11Exception

# A payout invoice that expires within this many seconds could expire between commit and send.
DEFAULT_MIN_REMAINING_SECONDS = 120
MAX_PAYMENT_REQUEST_CHARS = 4000
MAINNET = "bc"


@dataclass(frozen=True, kw_only=True)
class CheckedInvoice:
    payment_request: str = field(repr=False)
    payment_hash: str
    amount_msat: int
    expires_at: datetime
    payee: str
    description_hash: str

    @property
    def amount_sats(self) -> int:
        return self.amount_msat // 1000


@dataclass(frozen=True, kw_only=True)
class InvoiceRefusal:
    code: str
    reason: str


def metadata_hash(metadata: str) -> str:
    """LUD-06: the invoice's description hash is SHA-256 of the metadata string's UTF-8 bytes."""
    return hashlib.sha256(metadata.encode("utf-8")).hexdigest()


def _decode(payment_request: object) -> bolt11.Bolt11 | InvoiceRefusal:
    if not isinstance(payment_request, str) or not payment_request or len(payment_request) > MAX_PAYMENT_REQUEST_CHARS:
        return InvoiceRefusal(code="undecodable", reason="the answer holds no usable invoice")
    try:
        return bolt11.decode(payment_request)
    except (Bolt11Exception, ValueError, TypeError, KeyError, IndexError) as exc:
        return InvoiceRefusal(code="undecodable", reason=f"the invoice does not decode ({type(exc).__name__})")
    except Exception as exc:  # the decoder's dependencies raise their own types on garbage
        return InvoiceRefusal(code="undecodable", reason=f"the invoice does not decode ({type(exc).__name__})")


def check_payout_invoice(
    payment_request: str,
    *,
    amount_msat: int,
    metadata: str,
    hash_seen: Callable[[str], bool],
    now: datetime | None = None,
    min_remaining_seconds: int = DEFAULT_MIN_REMAINING_SECONDS,
) -> CheckedInvoice | InvoiceRefusal:
    decoded = _decode(payment_request)
    if isinstance(decoded, InvoiceRefusal):
        return decoded
    if decoded.currency != MAINNET:
        return InvoiceRefusal(
            code="wrong_network", reason=f"the invoice is for network {decoded.currency!r}, not bitcoin"
        )
    if decoded.amount_msat is None:
        return InvoiceRefusal(code="no_amount", reason="the invoice has no amount")
    if int(decoded.amount_msat) != amount_msat:
        return InvoiceRefusal(
            code="wrong_amount",
            reason=f"the invoice is for {int(decoded.amount_msat)} msat, {amount_msat} msat were asked",
        )
    now = now or datetime.now(UTC)
    expires_at = datetime.fromtimestamp(decoded.date + decoded.expiry, tz=UTC)
    if expires_at <= now:
        return InvoiceRefusal(code="expired", reason=f"the invoice expired at {expires_at.isoformat()}")
    if expires_at - now < timedelta(seconds=min_remaining_seconds):
        return InvoiceRefusal(code="expires_too_soon", reason=f"the invoice expires in under {min_remaining_seconds} s")
    expected = metadata_hash(metadata)
    if (decoded.description_hash or "").lower() != expected:
        return InvoiceRefusal(
            code="description_hash_mismatch",
            reason="the invoice's description hash is not the SHA-256 of the address's metadata",
        )
    payment_hash = decoded.payment_hash.lower()
    if hash_seen(payment_hash):
        return InvoiceRefusal(code="payment_hash_reused", reason="this payment hash was already used")
    return CheckedInvoice(
        payment_request=payment_request,
        payment_hash=payment_hash,
        amount_msat=amount_msat,
        expires_at=expires_at,
        payee=str(decoded.payee or ""),
        description_hash=expected,
    )
