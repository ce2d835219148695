"""LNURL-pay client (LUD-06, LUD-16, LUD-12) over the SSRF-safe HTTP client.

Two steps, as the spec has them: ``fetch_pay_params`` reads and validates the pay request behind a
Lightning address; ``request_invoice`` asks its callback for an invoice of an exact amount. Neither
pays anything: the invoice it returns must pass ``invoice_check.check_payout_invoice`` and be
committed before anyone pays it (docs/ARCHITECTURE.md, money rules 2 and 8).

Every refusal is an ``LnurlError`` with a stable ``code`` and a ``reason`` fit for a leg's last error
and an operator's screen. Nothing here is secret; a bolt11 is never logged in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from payments.lnurl.address import LightningAddress
from payments.net.safe_http import SafeHttpError, SafeHttpPolicy, SafeResponse, UnsafeUrl, safe_get

MAX_METADATA_CHARS = 16 * 1024
MAX_COMMENT_CHARS = 2000
# Millisatoshi bounds we accept from a server: 1 msat to 21 M BTC.
MAX_MSAT = 21_000_000 * 100_000_000 * 1000


class LnurlError(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class LnurlPayParams:
    """A validated LUD-06 payRequest. ``metadata`` is the raw string: its SHA-256 is what the
    invoice's description hash must equal, so it is kept byte for byte."""

    address: str
    callback: str
    min_sendable_msat: int
    max_sendable_msat: int
    metadata: str = field(repr=False)
    comment_allowed: int = 0
    fetched_at: datetime

    def as_cache(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "callback": self.callback,
            "min_sendable_msat": self.min_sendable_msat,
            "max_sendable_msat": self.max_sendable_msat,
            "metadata": self.metadata,
            "comment_allowed": self.comment_allowed,
            "fetched_at": self.fetched_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, data: Mapping[str, Any]) -> LnurlPayParams:
        return cls(
            address=str(data["address"]),
            callback=str(data["callback"]),
            min_sendable_msat=int(data["min_sendable_msat"]),
            max_sendable_msat=int(data["max_sendable_msat"]),
            metadata=str(data["metadata"]),
            comment_allowed=int(data["comment_allowed"]),
            fetched_at=datetime.fromisoformat(str(data["fetched_at"])),
        )

    @property
    def callback_host(self) -> str:
        return httpx.URL(self.callback).host


@dataclass(frozen=True, kw_only=True)
class LnurlInvoice:
    payment_request: str = field(repr=False)
    amount_msat: int
    comment_sent: bool


def _json(response: SafeResponse, what: str) -> dict[str, Any]:
    try:
        body = json.loads(response.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LnurlError("malformed_json", f"the {what} is not JSON") from exc
    if not isinstance(body, dict):
        raise LnurlError("malformed_json", f"the {what} is not a JSON object")
    # LUD-06: {"status": "ERROR", "reason": ...} at any step (any HTTP status).
    if str(body.get("status", "")).upper() == "ERROR":
        reason = str(body.get("reason") or "no reason given")[:200]
        raise LnurlError("remote_error", f"the LNURL server refused: {reason}")
    if response.status_code != 200:
        raise LnurlError("http_status", f"the {what} came with HTTP {response.status_code}")
    return body


def _get(url: str, policy: SafeHttpPolicy, params: Mapping[str, str] | None, what: str) -> dict[str, Any]:
    try:
        response = safe_get(url, policy=policy, params=params)
    except UnsafeUrl as exc:
        raise LnurlError(f"unsafe_url.{exc.code}", exc.reason) from exc
    except SafeHttpError as exc:
        raise LnurlError(f"fetch_failed.{exc.code}", exc.reason) from exc
    return _json(response, what)


def _msat(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if type(value) is not int or not 1 <= value <= MAX_MSAT:
        raise LnurlError("bad_pay_params", f"{name} must be a whole number of millisatoshis")
    return value


def _check_metadata(raw: object, address: LightningAddress) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_METADATA_CHARS:
        raise LnurlError("bad_metadata", "metadata must be a non-empty JSON string")
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise LnurlError("bad_metadata", "metadata is not valid JSON") from exc
    if not isinstance(entries, list) or not all(
        isinstance(e, list) and len(e) >= 2 and isinstance(e[0], str) for e in entries
    ):
        raise LnurlError("bad_metadata", "metadata must be a list of [type, content] pairs")
    if sum(1 for e in entries if e[0] == "text/plain") != 1:
        raise LnurlError("bad_metadata", "metadata must hold exactly one text/plain entry")
    # LUD-16: when the server names the address, it must be the one we asked for.
    named = {str(e[1]).lower() for e in entries if e[0] in ("text/identifier", "text/email")}
    if named and str(address) not in named:
        raise LnurlError("bad_metadata", "metadata names a different Lightning address")
    return raw


def _check_callback(raw: object, policy: SafeHttpPolicy) -> str:
    if not isinstance(raw, str) or not raw:
        raise LnurlError("bad_callback", "callback is missing")
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise LnurlError("bad_callback", "callback is not a URL") from exc
    port = url.port or (443 if url.scheme == "https" else 80)
    if url.scheme != "https" and not (url.scheme == "http" and policy.http_allowed(url.host, port)):
        raise LnurlError("bad_callback", "callback must be an https URL")
    return raw


def fetch_pay_params(
    address: LightningAddress, *, policy: SafeHttpPolicy, now: datetime | None = None
) -> LnurlPayParams:
    """The validated payRequest behind ``address`` (one GET of its well-known URL)."""
    body = _get(address.pay_url(policy), policy, None, "pay request")
    if body.get("tag") != "payRequest":
        raise LnurlError("bad_tag", "the address does not offer LNURL-pay (tag is not payRequest)")
    minimum, maximum = _msat(body, "minSendable"), _msat(body, "maxSendable")
    if minimum > maximum:
        raise LnurlError("bad_pay_params", "minSendable is above maxSendable")
    comment_allowed = body.get("commentAllowed", 0)
    if type(comment_allowed) is not int or comment_allowed < 0:
        comment_allowed = 0  # LUD-12 is optional: a bad value means "no comments", not a refusal
    return LnurlPayParams(
        address=str(address),
        callback=_check_callback(body.get("callback"), policy),
        min_sendable_msat=minimum,
        max_sendable_msat=maximum,
        metadata=_check_metadata(body.get("metadata"), address),
        comment_allowed=min(comment_allowed, MAX_COMMENT_CHARS),
        fetched_at=now or datetime.now(UTC),
    )


def request_invoice(
    params: LnurlPayParams, *, amount_msat: int, comment: str | None = None, policy: SafeHttpPolicy
) -> LnurlInvoice:
    """Ask the callback for an invoice of exactly ``amount_msat`` (LUD-06 step 2). The callback's own
    query string is kept; ``comment`` goes along only when the server allows comments (LUD-12),
    cut to its length limit."""
    if not params.min_sendable_msat <= amount_msat <= params.max_sendable_msat:
        raise LnurlError(
            "amount_out_of_range",
            f"{amount_msat} msat is outside what the address accepts "
            f"({params.min_sendable_msat}-{params.max_sendable_msat} msat)",
        )
    query = {"amount": str(amount_msat)}
    sent_comment = bool(comment and params.comment_allowed > 0)
    if sent_comment and comment:
        query["comment"] = comment[: params.comment_allowed]
    body = _get(_check_callback(params.callback, policy), policy, query, "invoice answer")
    payment_request = body.get("pr")
    if not isinstance(payment_request, str) or not payment_request.lower().startswith("ln"):
        raise LnurlError("no_invoice", "the callback answered without an invoice (pr)")
    return LnurlInvoice(payment_request=payment_request.strip(), amount_msat=amount_msat, comment_sent=sent_comment)
