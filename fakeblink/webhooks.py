"""Svix-style webhook delivery for the fake Blink.

Bodies are Blink's internal transaction object, not the GraphQL type (docs/ARCHITECTURE.md, Blink:
webhooks). Each message gets one ``svix-id`` for its whole life (retries and ``redeliver`` reuse it,
as Svix does) and is
signed with the real ``svix`` package at every attempt, so the app's verification code is tested
against the real algorithm. A failing or absent endpoint only ever produces a recorded failed attempt.

Delivery follows Svix (docs/ARCHITECTURE.md, Blink: webhooks): a background thread makes the first
attempt at once and retries a failed one after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each wait
counted from the previous failure, on the fake's clock (``FakeBlink.advance_clock`` makes due
retries run without waiting). An endpoint whose attempts have all failed for 5 days is disabled:
nothing is sent to it any more (queued retries and new events are recorded as dropped) until it is
configured again. Blink serialises big integers as strings, so a seeded share of messages carry
``settlementAmount`` and ``settlementFee`` as strings.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from svix.webhooks import Webhook

from fakeblink.prices import SAT_PRICE_OFFSET, Quote
from fakeblink.records import Account, Tx
from fakeblink.webhook_transport import WebhookPoster
from payments.wallet.conversion import sats_to_fiat
from payments.wallet.types import Price

logger = logging.getLogger(__name__)

_STATUS = {"SUCCESS": "success", "PENDING": "pending", "FAILURE": "failure"}
# Svix's retry schedule after the immediate first attempt (seconds, each after the previous failure).
SVIX_RETRY_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# Svix disables an endpoint whose attempts have all failed for this long.
SVIX_DISABLE_AFTER_SECONDS = 5 * 24 * 60 * 60.0
DEFAULT_STRING_AMOUNTS = 0.5  # share of messages whose bigints arrive as strings
DROPPED_DISABLED = "endpoint_disabled"


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


def stringify_amounts(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the transaction's bigint fields as strings, as Blink's JSON serialiser writes them."""
    out = dict(body)
    tx = out.get("transaction")
    if isinstance(tx, Mapping):
        tx = dict(tx)
        for name in ("settlementAmount", "settlementFee"):
            if isinstance(tx.get(name), int):
                tx[name] = str(tx[name])
        out["transaction"] = tx
    return out


@dataclass
class Endpoint:
    url: str
    secret: str = field(repr=False)
    failing_since: float | None = None  # first failed attempt since the last success (fake clock)
    disabled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "failing_since": self.failing_since, "disabled": self.disabled}


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
    account_id: str = ""
    dropped: str | None = None  # why the dispatcher stopped sending it without a 2xx

    def as_dict(self) -> dict[str, Any]:
        return {
            "svix_id": self.svix_id,
            "event_type": self.event_type,
            "url": self.url,
            "delivered": self.delivered,
            "exhausted": self.exhausted,
            "dropped": self.dropped,
            "attempts": [{"at": a.at, "status_code": a.status_code, "error": a.error} for a in self.attempts],
            "body": self.body.decode("utf-8", errors="replace"),
        }


class WebhookDispatcher:
    def __init__(
        self,
        *,
        rng: random.Random,
        retry_delays: tuple[float, ...] = SVIX_RETRY_DELAYS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        disable_after: float = SVIX_DISABLE_AFTER_SECONDS,
        string_amounts: float = DEFAULT_STRING_AMOUNTS,
    ):
        self._rng = rng
        # Its own stream, so the choice never shifts the svix-ids a seeded run hands out.
        self._amounts_rng = random.Random(rng.getrandbits(64))
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._clock = clock
        self._disable_after = disable_after
        self.string_amounts = string_amounts
        self._cond = threading.Condition()
        self._endpoints: dict[str, Endpoint] = {}  # account id -> endpoint
        self._messages: dict[str, Message] = {}
        self._queue: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._in_progress = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._http: WebhookPoster | None = None

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
        """Set (or with ``url`` None remove) the account's endpoint; setting it again re-enables it."""
        with self._cond:
            if url is None:
                self._endpoints.pop(account_id, None)
                return
            if not secret or not secret.startswith("whsec_"):
                raise ValueError("webhook secret must be a whsec_... string")
            Webhook(secret)  # fail now on a malformed secret, not at the first delivery
            self._endpoints[account_id] = Endpoint(url=url, secret=secret)

    def clock_changed(self) -> None:
        """The fake's clock jumped: wake the delivery thread so retries now due are sent."""
        with self._cond:
            self._cond.notify_all()

    def endpoints(self) -> dict[str, dict[str, Any]]:
        with self._cond:
            return {account: e.as_dict() for account, e in self._endpoints.items()}

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

    def enqueue_event(
        self, account_id: str, event_type: str, body: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    ) -> str | None:
        """``body`` may be a callable: built only for an account with an endpoint (most transactions
        of a load run have none, and building the body was a good share of a send's CPU)."""
        with self._cond:
            endpoint = self._endpoints.get(account_id)
            if endpoint is None:
                return None
            if callable(body):
                body = body()
            if self._amounts_rng.random() < self.string_amounts:
                body = stringify_amounts(body)
            raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
            message = Message(
                svix_id=self._new_id(),
                event_type=event_type,
                body=raw,
                url=endpoint.url,
                secret=endpoint.secret,
                account_id=account_id,
            )
            self._messages[message.svix_id] = message
            if endpoint.disabled:
                message.dropped = DROPPED_DISABLED
            else:
                heapq.heappush(self._queue, (self._clock(), next(self._seq), message.svix_id))
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
            url, secret = url or configured.url, secret or configured.secret
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

    def _client(self) -> WebhookPoster:
        # Built on first delivery: most fakes never send a webhook.
        with self._cond:
            if self._http is None:
                self._http = WebhookPoster(timeout=self._timeout)
            return self._http

    def _attempt(self, message: Message, *, timestamp: datetime | None = None) -> DeliveryAttempt:
        when = timestamp or datetime.now(UTC)
        started = self._clock()  # an attempt is dated when it is sent, as Svix logs it
        try:
            headers = sign_headers(secret=message.secret, svix_id=message.svix_id, timestamp=when, body=message.body)
            status = self._client().post(message.url, body=message.body, headers=headers)
            attempt = DeliveryAttempt(at=started, status_code=status)
        except Exception as exc:
            # Whatever goes wrong with a delivery (refused connection, bad URL, bad secret), the fake
            # keeps running: the attempt is recorded as failed and retried on schedule.
            attempt = DeliveryAttempt(at=started, status_code=None, error=type(exc).__name__)
        with self._cond:
            message.attempts.append(attempt)
            if attempt.status_code is not None and 200 <= attempt.status_code < 300:
                message.delivered = True
        logger.info(
            "fakeblink.webhook svix_id=%s event=%s status=%s", message.svix_id, message.event_type, attempt.status_code
        )
        return attempt

    def _endpoint_health_locked(self, message: Message, ok: bool, at: float) -> bool:
        """Track the endpoint's failing streak after a scheduled attempt; True when it is now disabled."""
        endpoint = self._endpoints.get(message.account_id)
        if endpoint is None or endpoint.url != message.url:
            return False  # reconfigured or removed meanwhile: the old streak no longer applies
        if ok:
            endpoint.failing_since = None
            return False
        if endpoint.failing_since is None:
            endpoint.failing_since = at
        if at - endpoint.failing_since >= self._disable_after and not endpoint.disabled:
            endpoint.disabled = True
            logger.warning("fakeblink.webhook_endpoint_disabled url=%s", endpoint.url)
        return endpoint.disabled

    def _disabled_locked(self, message: Message) -> bool:
        endpoint = self._endpoints.get(message.account_id)
        return endpoint is not None and endpoint.url == message.url and endpoint.disabled

    def _due_locked(self) -> bool:
        return bool(self._queue) and self._queue[0][0] <= self._clock()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._due_locked():
                    # Real seconds until the next retry is due; a clock jump notifies sooner.
                    wait = max(self._queue[0][0] - self._clock(), 0.0) if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, svix_id = heapq.heappop(self._queue)
                message = self._messages[svix_id]
                if self._disabled_locked(message):
                    message.dropped = DROPPED_DISABLED
                    self._cond.notify_all()
                    continue
                self._in_progress += 1
            try:
                attempt = self._attempt(message)
                with self._cond:
                    failures = sum(1 for a in message.attempts if not (a.status_code and 200 <= a.status_code < 300))
                    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
                    disabled = self._endpoint_health_locked(message, ok, attempt.at)
                    if not ok and disabled:
                        message.dropped = DROPPED_DISABLED
                    elif not ok and failures <= len(self._retry_delays):
                        due = attempt.at + self._retry_delays[failures - 1]
                        heapq.heappush(self._queue, (due, next(self._seq), svix_id))
                    elif not ok:
                        message.exhausted = True
            finally:
                with self._cond:
                    self._in_progress -= 1
                    self._cond.notify_all()
