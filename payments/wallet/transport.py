"""The HTTP side of the Blink client: one log line per event and turning an HTTP answer into a decoded
GraphQL body or a transport-level ``WalletError`` (gateway statuses, ``Retry-After``, non-JSON).

Kept apart from ``client.py`` (the operations) so each file has one job; nothing here knows a
GraphQL document.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from payments.wallet import errors as e

logger = logging.getLogger("payments.wallet.client")


def log_event(level: int, event: str, **fields: Any) -> None:
    """One line per event, readable as text and as ``extra`` fields for structured handlers."""
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    logger.log(level, "%s %s", event, text, extra={k: v for k, v in fields.items() if v is not None})


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def decode(response: httpx.Response) -> Any:
    """The decoded JSON body of a GraphQL answer, or the transport-level error it stands for."""
    status = response.status_code
    if status == 429:
        raise e.RateLimited("HTTP_429", "rate limited by the gateway", retry_after=retry_after(response))
    if status >= 500:
        raise e.WalletUnavailable(f"HTTP_{status}", "Blink gateway error", retry_after=retry_after(response))
    if status in (401, 403):
        raise e.NotAuthorized(f"HTTP_{status}", "API key refused")
    try:
        # parse_float=Decimal: no float ever enters money code, even from an odd answer.
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        if status == 200:
            raise e.WalletUnavailable("MALFORMED_RESPONSE", "answer is not JSON") from exc
        raise e.WalletProtocolError(f"HTTP_{status}", "unexpected non-JSON answer") from exc
    if not isinstance(body, dict):
        raise e.WalletUnavailable("MALFORMED_RESPONSE", "answer is not a JSON object")
    # Apollo answers 400 with a GraphQL errors list for documents it refuses; map those below.
    if status != 200 and not (status == 400 and body.get("errors")):
        raise e.WalletProtocolError(f"HTTP_{status}", "unexpected HTTP status")
    return body
