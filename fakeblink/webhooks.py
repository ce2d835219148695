"""Svix-style webhook delivery for the fake Blink.

Bodies are Blink's internal transaction object, not the GraphQL type (docs/ARCHITECTURE.md, Blink:
webhooks). Each message gets one ``svix-id`` for its whole life (retries and ``redeliver`` reuse it,
as Svix does) and is
signed with the real ``svix`` package at every attempt, so the app's verification code is tested
against the real algorithm. Delivery runs on a background thread with a short retry schedule; a
failing or absent endpoint only ever produces a recorded failed attempt.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from svix.webhooks import Webhook

from fakeblink.prices import SAT_PRICE_OFFSET, Quote
from fakeblink.records import Account, Tx
from payments.wallet.conversion import sats_to_fiat
from payments.wallet.types import Price

logger = logging.getLogger(__name__)

_STATUS = {"SUCCESS": "success", "PENDING": "pending", "FAILURE": "failure"}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_body(*, account: Account, tx: Tx, event_type: str, quote: Quote) -> dict[str, Any]:
    """``{...payload, accountId, walletId, eventType}`` with ``payload = {transaction}``."""
    price = Price(
        currency=quote.currency, base=quote.base, offset=SAT_PRICE_OFFSET, fraction_digits=quote.fraction_digits
    )
    settlement: dict[str, Any]
    if tx.settlement == "lightning":
        settlement = {"type": "lightning", "revealedPreImage": tx.preimage}
    else:
        settlement = {
            "type": "intraledger",
            "counterPartyWalletId": tx.counterparty_wallet_id,
            "counterPartyUsername": tx.counterparty_username,
            "revealedPreImage": tx.preimage,
        }
    transaction = {
        "id": tx.id,
        "walletId": tx.wallet_id,
        "externalId": tx.external_id or tx.payment_hash,
        "createdAt": _iso(tx.created_at),
        "status": _STATUS[tx.status],
        "memo": tx.memo,
        "settlementAmount": tx.amount,
        "settlementFee": tx.fee,
        "settlementCurrency": tx.currency,
        "settlementDisplayAmount": str(sats_to_fiat(tx.amount, price=price)),
        "settlementDisplayFee": str(sats_to_fiat(tx.fee, price=price)),
        "settlementDisplayPrice": {
            "base": str(quote.base),
            "offset": str(SAT_PRICE_OFFSET),
            "displayCurrency": quote.currency,
            "walletCurrency": tx.currency,
        },
        "initiationVia": {"type": "lightning", "paymentHash": tx.payment_hash, "pubkey": "02" + "ab" * 32},
        "settlementVia": settlement,
    }
    return {"accountId": account.id, "walletId": tx.wallet_id, "eventType": event_type, "transaction": transaction}


def sign_headers(*, secret: str, svix_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(svix_id, timestamp, body.decode("utf-8"))
    return {
        "content-type": "application/json",
        "user-agent": "Svix-Webhooks/1.0 (fake-blink)",
        "svix-id": svix_id,
        "svix-timestamp": str(int(timestamp.timestamp())),
        "svix-signature": signature,
    }


@dataclass
class DeliveryAttempt:
    at: float
    status_code: int | None
    error: str | None = None


@dataclass
class Message:
    svix_id: str
    event_type: str
    body: bytes
    url: str
    secret: str = field(repr=False)
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    delivered: bool = False
    exhausted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "svix_id": self.svix_id,
            "event_type": self.event_type,
            "url": self.url,
            "delivered": self.delivered,
            "exhausted": self.exhausted,
            "attempts": [{"at": a.at, "status_code": a.status_code, "error": a.error} for a in self.attempts],
            "body": self.body.decode("utf-8", errors="replace"),
        }


class WebhookDispatcher:
    def __init__(self, *, rng: random.Random, retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0), timeout: float = 5.0):
        self._rng = rng
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._cond = threading.Condition()
        self._endpoints: dict[str, tuple[str, str]] = {}  # account id -> (url, secret)
        self._messages: dict[str, Message] = {}
        self._queue: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._in_progress = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="fake-blink-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)
        with self._cond:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    # -- configuration and introspection ------------------------------------------------------

    def configure(self, account_id: str, url: str | None, secret: str | None) -> None:
        with self._cond:
            if url is None:
                self._endpoints.pop(account_id, None)
                return
            if not secret or not secret.startswith("whsec_"):
                raise ValueError("webhook secret must be a whsec_... string")
            Webhook(secret)  # fail now on a malformed secret, not at the first delivery
            self._endpoints[account_id] = (url, secret)

    def messages(self) -> list[dict[str, Any]]:
        with self._cond:
            return [m.as_dict() for m in self._messages.values()]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or being delivered (retries included)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_progress:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- sending ------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return "msg_" + "".join(self._rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(26))

    def enqueue_event(self, account_id: str, event_type: str, body: Mapping[str, Any]) -> str | None:
        with self._cond:
            endpoint = self._endpoints.get(account_id)
            if endpoint is None:
                return None
            raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
            message = Message(
                svix_id=self._new_id(), event_type=event_type, body=raw, url=endpoint[0], secret=endpoint[1]
            )
            self._messages[message.svix_id] = message
            heapq.heappush(self._queue, (time.monotonic(), next(self._seq), message.svix_id))
            self._cond.notify_all()
            return message.svix_id

    def redeliver(self, svix_id: str) -> DeliveryAttempt:
        """Send a recorded message again now, same svix-id and body (a fresh timestamp/signature)."""
        with self._cond:
            message = self._messages.get(svix_id)
        if message is None:
            raise KeyError(svix_id)
        return self._attempt(message)

    def deliver_raw(
        self,
        *,
        body: bytes | str | Mapping[str, Any],
        url: str | None = None,
        secret: str | None = None,
        account_id: str | None = None,
        svix_id: str | None = None,
        timestamp: datetime | int | None = None,
        event_type: str = "raw",
    ) -> DeliveryAttempt:
        """Deliver a hand-made event synchronously (tests: replays, stale timestamps, odd bodies)."""
        if url is None or secret is None:
            with self._cond:
                configured = self._endpoints.get(account_id or "")
            if configured is None:
                raise ValueError("no url/secret given and no endpoint configured")
            url, secret = url or configured[0], secret or configured[1]
        if isinstance(body, Mapping):
            raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        else:
            raw = body.encode("utf-8") if isinstance(body, str) else body
        if isinstance(timestamp, int):
            timestamp = datetime.fromtimestamp(timestamp, UTC)
        message = Message(svix_id=svix_id or self._new_id(), event_type=event_type, body=raw, url=url, secret=secret)
        with self._cond:
            self._messages.setdefault(message.svix_id, message)
        return self._attempt(message, timestamp=timestamp)

    def _client(self) -> httpx.Client:
        # Built on first delivery: most fakes never send a webhook, and a client costs an SSL context.
        with self._cond:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._http

    def _attempt(self, message: Message, *, timestamp: datetime | None = None) -> DeliveryAttempt:
        when = timestamp or datetime.now(UTC)
        try:
            headers = sign_headers(secret=message.secret, svix_id=message.svix_id, timestamp=when, body=message.body)
            response = self._client().post(message.url, content=message.body, headers=headers)
            attempt = DeliveryAttempt(at=time.time(), status_code=response.status_code)
        except Exception as exc:
            # Whatever goes wrong with a delivery (refused connection, bad URL, bad secret), the fake
            # keeps running: the attempt is recorded as failed and retried on schedule.
            attempt = DeliveryAttempt(at=time.time(), status_code=None, error=type(exc).__name__)
        with self._cond:
            message.attempts.append(attempt)
            if attempt.status_code is not None and 200 <= attempt.status_code < 300:
                message.delivered = True
        logger.info(
            "fakeblink.webhook svix_id=%s event=%s status=%s", message.svix_id, message.event_type, attempt.status_code
        )
        return attempt

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, svix_id = heapq.heappop(self._queue)
                message = self._messages[svix_id]
                self._in_progress += 1
            try:
                attempt = self._attempt(message)
                with self._cond:
                    failures = sum(1 for a in message.attempts if not (a.status_code and 200 <= a.status_code < 300))
                    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
                    if not ok and failures <= len(self._retry_delays):
                        due = time.monotonic() + self._retry_delays[failures - 1]
                        heapq.heappush(self._queue, (due, next(self._seq), svix_id))
                    elif not ok:
                        message.exhausted = True
            finally:
                with self._cond:
                    self._in_progress -= 1
                    self._cond.notify_all()
