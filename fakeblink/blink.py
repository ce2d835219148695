"""``FakeBlink``: a Blink look-alike on loopback for tests, the demo and chaos drills.

It serves the same GraphQL documents the real client sends (``POST /graphql``), keeps a ledger
with real balances, signs webhooks with the real svix library, and can be steered from Python or
over HTTP (``/control/...``, see ``control.py``) by other processes.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any

from fakeblink.bolt11_mint import SimulatedNode
from fakeblink.control import ControlAPI
from fakeblink.endpoint import GraphQLEndpoint
from fakeblink.ledger import Ledger
from fakeblink.limits import Limits, LimitsConfig
from fakeblink.lnurl_host import BlinkLud16, OutsideLnurlHost
from fakeblink.prices import SAT_PRICE_OFFSET, PriceBook
from fakeblink.records import Account, Invoice, Tx
from fakeblink.scenarios import Scenarios
from fakeblink.server import LOOPBACK, HTTPServerThread, Reply, json_reply
from fakeblink.webhooks import (
    DEFAULT_STRING_AMOUNTS,
    SVIX_RETRY_DELAYS,
    DeliveryAttempt,
    WebhookDispatcher,
    event_body,
)
from payments.wallet import validation

logger = logging.getLogger(__name__)

# Stable across runs so a demo stack can be configured once (BLINK_WALLET_ID); not a secret.
DEFAULT_PLATFORM_WALLET_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://fake-blink.invalid/platform-wallet"))
DEFAULT_PLATFORM_BALANCE = 100_000_000  # 1 BTC, so forwarding works out of the box
ALL_SCOPES = frozenset({"READ", "RECEIVE", "WRITE"})


class FakeBlink:
    def __init__(
        self,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        platform_api_key: str | None = None,
        platform_wallet_id: str | None = None,
        platform_username: str = "blinkpos_platform",
        platform_balance: int = DEFAULT_PLATFORM_BALANCE,
        seed: int | None = None,
        pending_polls: int = 3,
        slow_seconds: float = 2.0,
        webhook_retry_delays: tuple[float, ...] = SVIX_RETRY_DELAYS,
        webhook_string_amounts: float = DEFAULT_STRING_AMOUNTS,
        limits: LimitsConfig | None = None,
        outside_lnurl: bool = False,
        outside_lnurl_port: int | None = None,
    ) -> None:
        """``limits``: Blink's account limits (default: Blink's own values; ``LimitsConfig.off()`` for
        none). ``webhook_retry_delays``: Svix's schedule unless a test needs a shorter one."""
        self._host, self._port = host, port
        self._rng = random.Random(seed)
        self._clock_offset = 0.0
        self._lock = threading.Lock()
        self._autopay_seconds: float | None = None
        self._timers: list[threading.Timer] = []
        self.scenarios = Scenarios()
        self.prices = PriceBook()
        self.webhooks = WebhookDispatcher(
            rng=random.Random(self._rng.getrandbits(64)),
            retry_delays=webhook_retry_delays,
            clock=self.now,
            string_amounts=webhook_string_amounts,
        )
        # Simulated Lightning nodes (real BOLT11 signatures): keys reproducible with a seed.
        node_seed: int | str = seed if seed is not None else secrets.token_hex(16)
        self.ledger = Ledger(
            clock=self.now, rng=self._rng, observer=self, node=SimulatedNode.derive("blink", node_seed)
        )
        self.lud16 = BlinkLud16(self, SimulatedNode.derive("spark", node_seed))
        self.outside: OutsideLnurlHost | None = None
        if outside_lnurl or outside_lnurl_port is not None:
            self.outside = OutsideLnurlHost(self, SimulatedNode.derive("outside", node_seed), port=outside_lnurl_port)
        self.ledger.pending_polls = pending_polls
        self.limits = Limits(clock=self.now, cents_for_sats=self._cents_for_sats, config=limits)
        self.ledger.limits = self.limits
        # Without a seed the key is unguessable; with one it is reproducible (tests, demos).
        key = platform_api_key or (
            "blink_" + (secrets.token_hex(16) if seed is None else f"{self._rng.getrandbits(128):032x}")
        )
        wallet_id = validation.wallet_id(platform_wallet_id or DEFAULT_PLATFORM_WALLET_ID, field="platform_wallet_id")
        self.platform: Account = self.ledger.add_account(
            username=platform_username,
            balance=platform_balance,
            currencies=("BTC",),
            receive_disabled=False,
            api_key=validation.api_key(key, field="platform_api_key"),
            scopes=ALL_SCOPES,
            wallet_id=wallet_id,
        )
        self._endpoint = GraphQLEndpoint(ledger=self.ledger, prices=self.prices, scenarios=self.scenarios)
        self._endpoint.slow_seconds = slow_seconds
        self._control = ControlAPI(self)
        self._server: HTTPServerThread | None = None

    def __repr__(self) -> str:
        return f"FakeBlink(url={self.url if self._server else None!r}, platform_wallet_id={self.platform_wallet_id!r})"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeBlink:
        self._server = HTTPServerThread(self._dispatch, host=self._host, port=self._port)
        self.webhooks.start()
        self._server.start()
        if self.outside is not None:
            self.outside.start()
        logger.info("fakeblink.started url=%s", self.url)
        return self

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        if self._server is not None:
            self._server.stop()
        if self.outside is not None:
            self.outside.stop()
        self.webhooks.stop()

    def __enter__(self) -> FakeBlink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeBlink is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """Where to point BLINK_API_URL."""
        return f"{self.base_url}/graphql"

    @property
    def platform_api_key(self) -> str:
        return self.platform.api_key or ""

    @property
    def platform_wallet_id(self) -> str:
        return self.platform.wallet_ids[0]

    def _dispatch(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        route = path.split("?", 1)[0]
        if route == "/graphql":
            if method != "POST":
                return json_reply(405, {"errors": [{"message": "use POST"}]})
            return self._endpoint.handle(headers, body)
        if route.startswith("/control/"):
            return self._control.handle(method, route, body)
        if (lud16 := self.lud16.handle(method, path)) is not None:
            return lud16
        return json_reply(404, {"error": "not found"})

    # -- clock --------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (invoice expiry, limit windows, webhook retries) without sleeping."""
        self._clock_offset += seconds
        self.webhooks.clock_changed()

    # -- limits -------------------------------------------------------------------------------

    def _cents_for_sats(self, sats: int) -> int:
        """A send's value in US cents at the current price, rounded up (Blink counts limits in cents)."""
        quote = self.prices.quote("USD")
        if quote is None:
            return 0
        scale = 10**SAT_PRICE_OFFSET
        return (sats * quote.base + scale - 1) // scale

    def configure_limits(self, changes: Mapping[str, Any], *, reset_counters: bool = False) -> dict[str, Any]:
        """Change some limits (``invoice_rate`` {points, window_seconds, block_seconds} or null,
        ``intraledger_daily_cents`` or null); returns the state. ``reset_counters`` forgets blocks and volume."""
        self.limits.configure(self.limits.config.updated(dict(changes)))
        if reset_counters:
            self.limits.reset_counters()
        return self.limits.state()

    def limits_state(self) -> dict[str, Any]:
        return self.limits.state()

    # -- ledger setup -------------------------------------------------------------------------

    def add_account(
        self,
        username: str,
        balance: int = 0,
        currencies: Iterable[str] = ("BTC",),
        receive_disabled: bool = False,
        *,
        api_key: str | None = None,
        scopes: Iterable[str] = ("READ", "RECEIVE"),
    ) -> str:
        """Create an account; returns its first wallet id (the BTC one unless ``currencies`` says USD)."""
        codes = tuple(c.upper() for c in currencies)
        if not codes or any(c not in ("BTC", "USD") for c in codes):
            raise ValueError("currencies must be BTC and/or USD")
        account = self.ledger.add_account(
            username=validation.username(username),
            balance=balance,
            currencies=codes,
            receive_disabled=receive_disabled,
            api_key=api_key,
            scopes=frozenset(s.upper() for s in scopes),
        )
        return account.wallet_ids[0]

    def wallets_of(self, username: str) -> dict[str, str]:
        account = self._account(username)
        return {self.ledger.wallets[w].currency: w for w in account.wallet_ids}

    def set_receive_disabled(self, username: str, disabled: bool = True) -> None:
        with self.ledger.lock:
            self._account(username).receive_disabled = disabled

    def set_scopes(self, scopes: Iterable[str], *, username: str | None = None) -> None:
        """Change what the account's API key (default: the platform's) may do; a key without WRITE
        is refused sends with NOT_AUTHORIZED, as Blink's scope middleware does."""
        allowed = frozenset(s.upper() for s in scopes)
        if not allowed <= ALL_SCOPES:
            raise ValueError(f"scopes must be among {sorted(ALL_SCOPES)}")
        with self.ledger.lock:
            (self._account(username) if username else self.platform).scopes = allowed

    def set_already_paid_flow(self, seconds: float | None) -> None:
        """How long a second send of a paid invoice answers ALREADY_PAID before Blink's rebuilt payment
        flow answers FAILURE "Invoice is already paid" (Blink: 300); None: ALREADY_PAID forever."""
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.ledger.already_paid_flow_seconds = seconds

    def migrate_to_self_custodial(self, username: str) -> dict[str, Any]:
        """Blink's Spark migration: the custodial wallets are gone (``accountDefaultWallet`` finds
        nothing, invoices still open on them answer RECEIVE_DISABLED), the Lightning address keeps
        resolving and is now paid over Lightning to the account's self-custodial node."""
        with self.ledger.lock:
            account = self._account(username)
            account.receive_disabled = True
            account.wallet_ids = []  # the wallets stay in the books (history), no longer the account's
            self.lud16.migrated.add(account.username)
        return {"username": account.username, "address": f"{account.username}@{self.lud16.lud16.domain()}"}

    def lightning_address(self, username: str) -> str:
        return f"{username.lower()}@{self.lud16.lud16.domain()}"

    def set_balance(self, wallet_id: str, amount: int) -> None:
        with self.ledger.lock:
            self.ledger.wallets[wallet_id].balance = amount

    def set_price(self, currency: str, btc_price: Decimal) -> None:
        self.prices.set_price(currency, btc_price)

    def _account(self, username: str) -> Account:
        account = self.ledger.account_by_username(username)
        if account is None:
            raise KeyError(f"no account {username!r}")
        return account

    # -- customers and scenarios --------------------------------------------------------------

    def pay_invoice_as_customer(self, payment_hash: str, *, allow_expired: bool = False) -> dict[str, Any]:
        """An outside wallet pays the invoice: owner credited, invoice PAID, receive webhook sent."""
        return self._invoice_view(self.ledger.pay_as_customer(payment_hash.lower(), allow_expired=allow_expired))

    def set_autopay(self, seconds: float | None) -> None:
        """Demo mode: every new invoice of a platform account (the default one or any other with a WRITE
        key) is paid by a customer ``seconds`` after creation."""
        self._autopay_seconds = seconds

    def set_latency(self, operation: str, seconds: float) -> None:
        self.scenarios.set_latency(operation, seconds)

    def script(self, operation: str, outcomes: list[str]) -> None:
        self.scenarios.script(operation, outcomes)

    def set_pending_polls(self, polls: int) -> None:
        """How many lookups a PENDING_THEN_* send stays pending before it settles (0: next lookup)."""
        self.ledger.pending_polls = polls

    def settle_pending(self, payment_hash: str) -> bool:
        payment_hash = payment_hash.lower()
        return self.ledger.settle_pending(payment_hash) or self.ledger.external.settle(payment_hash)

    def reset_scenarios(self) -> None:
        self.scenarios.reset()

    # -- webhooks -----------------------------------------------------------------------------

    def configure_webhooks(self, url: str | None, secret: str | None = None, *, username: str | None = None) -> None:
        """Deliver the account's events (default: the platform's) to ``url``, signed with ``secret``."""
        account = self._account(username) if username else self.platform
        self.webhooks.configure(account.id, url, secret)

    def redeliver(self, svix_id: str) -> DeliveryAttempt:
        return self.webhooks.redeliver(svix_id)

    def deliver_raw(
        self,
        *,
        body: bytes | str | Mapping[str, Any],
        svix_id: str | None = None,
        timestamp: datetime | int | None = None,
        url: str | None = None,
        secret: str | None = None,
    ) -> DeliveryAttempt:
        return self.webhooks.deliver_raw(
            body=body, url=url, secret=secret, account_id=self.platform.id, svix_id=svix_id, timestamp=timestamp
        )

    def webhook_messages(self) -> list[dict[str, Any]]:
        return self.webhooks.messages()

    def webhook_endpoints(self) -> dict[str, dict[str, Any]]:
        """Per account id: url, failing_since and whether Svix's rule has disabled it."""
        return self.webhooks.endpoints()

    def set_webhook_string_amounts(self, share: float) -> None:
        """The share (0..1) of new messages whose bigints are strings."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be between 0 and 1")
        self.webhooks.string_amounts = share

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    # -- LedgerObserver -----------------------------------------------------------------------

    def invoice_created(self, invoice: Invoice) -> None:
        seconds = self._autopay_seconds
        if seconds is None or not self._is_platform(invoice.account_id):
            return
        timer = threading.Timer(seconds, self._autopay, args=(invoice.payment_hash,))
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _is_platform(self, account_id: str) -> bool:
        """The default platform account, or another one (a key with WRITE scope: BlinkPOS's extra
        platform accounts; merchants' keys never have it). Customers pay only platform invoices."""
        if account_id == self.platform.id:
            return True
        account = self.ledger.accounts.get(account_id)
        return account is not None and account.api_key is not None and "WRITE" in account.scopes

    def _autopay(self, payment_hash: str) -> None:
        try:
            self.ledger.pay_as_customer(payment_hash)
        except ValueError as exc:  # cancelled, expired or paid meanwhile: a customer would give up too
            logger.info("fakeblink.autopay_skipped payment_hash=%s reason=%s", payment_hash, exc)

    def transaction_recorded(self, account: Account, tx: Tx, event_type: str) -> None:
        quote = self.prices.quote("USD")
        if quote is not None:
            self.webhooks.enqueue_event(
                account.id, event_type, lambda: event_body(account=account, tx=tx, event_type=event_type, quote=quote)
            )

    # -- introspection ------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """GraphQL requests received (including refused and dropped ones)."""
        return len(self._endpoint.requests)

    def requests(self) -> list[dict[str, Any]]:
        return list(self._endpoint.requests)

    def debits_for(self, payment_hash: str, wallet_id: str | None = None) -> int:
        """How many sends from ``wallet_id`` (default: the platform wallet) debited for this invoice."""
        return self.ledger.debits_for(payment_hash.lower(), wallet_id or self.platform_wallet_id)

    def balance(self, wallet_id: str) -> int:
        with self.ledger.lock:
            return self.ledger.wallets[wallet_id].balance

    def invoice(self, payment_hash: str) -> dict[str, Any] | None:
        with self.ledger.lock:
            invoice = self.ledger.invoices.get(payment_hash.lower())
            return self._invoice_view(invoice) if invoice else None

    def _invoice_view(self, invoice: Invoice) -> dict[str, Any]:
        view = asdict(invoice)
        del view["preimage"], view["payment_secret"]  # the proof of payment stays inside the fake
        view["status"] = self.ledger.invoice_state(invoice)
        return view

    def transactions(self, wallet_id: str | None = None) -> list[dict[str, Any]]:
        with self.ledger.lock:
            found = [t for t in self.ledger.transactions if wallet_id in (None, t.wallet_id)]
            return [{k: v for k, v in asdict(t).items() if k != "preimage"} for t in found]

    def dump(self) -> dict[str, Any]:
        with self.ledger.lock:
            return {
                "platform": {"account_id": self.platform.id, "wallet_id": self.platform_wallet_id},
                "accounts": [
                    {
                        "id": a.id,
                        "username": a.username,
                        "wallet_ids": a.wallet_ids,
                        "scopes": sorted(a.scopes),
                        "receive_disabled": a.receive_disabled,
                    }
                    for a in self.ledger.accounts.values()
                ],
                "wallets": [asdict(w) for w in self.ledger.wallets.values()],
                "invoices": [self._invoice_view(i) for i in self.ledger.invoices.values()],
                "transactions": self.transactions(),
                "scripts": self.scenarios.pending(),
                "autopay_seconds": self._autopay_seconds,
                # msat settled to receivers outside the ledger ("spark:<user>", "outside:<name>")
                "outside_received_msat": dict(self.ledger.external.received_msat),
            }
