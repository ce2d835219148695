"""Scripted outcomes and latency for the fake Blink.

``script(operation, [outcomes...])`` queues outcomes for one GraphQL root field (e.g.
``lnInvoicePaymentSend``); each call of that field consumes the next one, then behaviour is normal
again. Outcomes come in three kinds, by *when* they act and whether the ledger changes:

- before execution, nothing applied: ``HTTP_500``/``HTTP_502``/``HTTP_503``, ``HTTP_429`` (with
  Retry-After), ``TIMEOUT`` (connection dropped without an answer);
- after execution, so the ledger *did* change but the caller cannot know: ``TIMEOUT_AFTER_APPLY``
  (socket dropped), ``TIMEOUT_AFTER_APPLY_SLEEP`` (answer only after ``slow_seconds``, past the
  client's read timeout), ``MALFORMED_JSON`` (truncated body), ``HTTP_500_AFTER_APPLY``;
- in-band, answered the way Blink answers: any error code below (mutations put it in the payload
  ``errors``, queries in the top-level ``errors``), and for ``lnInvoicePaymentSend`` also
  ``FAILURE``, ``PENDING_THEN_SUCCESS``, ``PENDING_THEN_FAILURE``, ``REIMBURSED_AFTER_SUCCESS``, and
  ``ERROR_AFTER_APPLY`` (the payment is recorded and settled, then the answer is ``FAILURE`` with an
  error, as Blink does when a step after its ledger entry fails).
"""

from __future__ import annotations

import threading
from collections import deque

OPERATIONS = frozenset(
    {
        "accountDefaultWallet",
        "authorization",
        "lnInvoiceCancel",
        "lnInvoiceCreate",
        "lnInvoiceCreateOnBehalfOfRecipient",
        "lnInvoiceFeeProbe",
        "lnInvoicePaymentSend",
        "lnInvoicePaymentStatusByHash",
        "me",
        "realtimePrice",
    }
)

BEFORE_EXECUTION = frozenset({"HTTP_429", "HTTP_500", "HTTP_502", "HTTP_503", "TIMEOUT"})
AFTER_EXECUTION = frozenset(
    {"TIMEOUT_AFTER_APPLY", "TIMEOUT_AFTER_APPLY_SLEEP", "MALFORMED_JSON", "HTTP_500_AFTER_APPLY"}
)
SEND_ONLY = frozenset(
    {"FAILURE", "PENDING_THEN_SUCCESS", "PENDING_THEN_FAILURE", "REIMBURSED_AFTER_SUCCESS", "ERROR_AFTER_APPLY"}
)

# Error codes with the message Blink uses for them (graphql/error.ts, error-map.ts).
ERROR_MESSAGES: dict[str, str] = {
    "TOO_MANY_REQUEST": "Too many invoices creation, please wait for a while and try again.",
    "RECEIVE_DISABLED": (
        "This account can no longer receive payments. If this is your account, please update the Blink app "
        "to migrate your funds."
    ),
    "INSUFFICIENT_BALANCE": "balance is too low",
    "INVALID_INPUT": "Invalid input",
    "NOT_FOUND": "Not found",
    "NOT_AUTHORIZED": "not authorized to execute mutations",
    "NOT_AUTHENTICATED": "Not authenticated",
    "TRANSACTION_RESTRICTED": "Intraledger limits exceeded",
    "LIGHTNING_PAYMENT_ERROR": "Payment was rejected by destination as invalid",
    "ROUTE_FINDING_ERROR": "Unable to find a route for payment.",
    "LND_OFFLINE": "Offchain action failed, please try again in a few minutes.",
    "UNKNOWN_CLIENT_ERROR": "Unknown error",
}

ALL_OUTCOMES = BEFORE_EXECUTION | AFTER_EXECUTION | SEND_ONLY | frozenset(ERROR_MESSAGES)


class Scenarios:
    """Thread-safe queues of outcomes and per-operation latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[str]] = {}
        self._latency: dict[str, float] = {}

    def script(self, operation: str, outcomes: list[str]) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; known: {sorted(OPERATIONS)}")
        for outcome in outcomes:
            if outcome not in ALL_OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}; known: {sorted(ALL_OUTCOMES)}")
            if outcome in SEND_ONLY and operation != "lnInvoicePaymentSend":
                raise ValueError(f"{outcome} only applies to lnInvoicePaymentSend")
        with self._lock:
            self._scripts.setdefault(operation, deque()).extend(outcomes)

    def next_outcome(self, operation: str) -> str | None:
        with self._lock:
            queue = self._scripts.get(operation)
            return queue.popleft() if queue else None

    def pending(self) -> dict[str, list[str]]:
        with self._lock:
            return {op: list(q) for op, q in self._scripts.items() if q}

    def set_latency(self, operation: str, seconds: float) -> None:
        """Delay before executing ``operation`` ("*" for every operation); 0 removes it."""
        if operation != "*" and operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            if seconds:
                self._latency[operation] = seconds
            else:
                self._latency.pop(operation, None)

    def latency_for(self, operations: list[str]) -> float:
        with self._lock:
            return max([self._latency.get(op, 0.0) for op in operations] + [self._latency.get("*", 0.0)])

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._latency.clear()
