"""Blink's account limits, enforced by the fake the way Blink enforces them (docs/ARCHITECTURE.md,
Blink: rate limits), on the fake's own clock so a test can move past a block without sleeping.

- **Invoice creation**: ``points`` creations per ``window_seconds`` per account, then the account is
  blocked for ``block_seconds`` and every creation answers ``TOO_MANY_REQUEST``. Blink's limiter
  (rate-limiter-flexible) counts in a fixed window that starts at the first attempt; the attempt that
  goes over the points starts the block, and attempts during the block are refused without extending
  it. ``lnInvoiceCreate`` is counted against the creating account, the ``...OnBehalfOfRecipient``
  mutations against the recipient's account (for BlinkPOS both land on the platform account for
  customer invoices, and on each merchant or staff account for payout invoices).
- **Daily intraledger volume**: every send settled inside Blink (all the fake's sends) counts, in US
  cents at the current price, over a rolling 24 hours. A send that would take the account past the
  limit answers ``TRANSACTION_RESTRICTED`` and moves nothing. Blink's default for an account of level
  1 (the platform account must be level 1 or more to get webhooks) is 200 000 cents a day.

Both are on by default with Blink's values; ``LimitsConfig.off()`` turns them off for tests and load
runs that need volume on one account.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from fakeblink.records import BlinkFailure

DAY_SECONDS = 24 * 60 * 60
LEVEL_ONE_INTRALEDGER_CENTS = 200_000  # galoy.yaml accountLimits.intraLedger.level["1"]
TOO_MANY_MESSAGE = "Too many invoices creation, please wait for a while and try again."


@dataclass(frozen=True, kw_only=True)
class InvoiceRateLimit:
    points: int = 60
    window_seconds: float = 60.0
    block_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.points < 1 or self.window_seconds <= 0 or self.block_seconds < 0:
            raise ValueError("invoice rate limit needs points >= 1, window_seconds > 0, block_seconds >= 0")


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """``None`` switches a limit off."""

    invoice_rate: InvoiceRateLimit | None = field(default_factory=InvoiceRateLimit)
    intraledger_daily_cents: int | None = LEVEL_ONE_INTRALEDGER_CENTS

    def __post_init__(self) -> None:
        if self.intraledger_daily_cents is not None and self.intraledger_daily_cents < 0:
            raise ValueError("intraledger_daily_cents must be >= 0")

    @classmethod
    def off(cls) -> LimitsConfig:
        return cls(invoice_rate=None, intraledger_daily_cents=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoice_rate": asdict(self.invoice_rate) if self.invoice_rate else None,
            "intraledger_daily_cents": self.intraledger_daily_cents,
        }

    def updated(self, changes: dict[str, Any]) -> LimitsConfig:
        """This config with the keys of ``changes`` replaced (control endpoint; unknown keys refused)."""
        unknown = set(changes) - {"invoice_rate", "intraledger_daily_cents"}
        if unknown:
            raise ValueError(f"unknown limit(s) {sorted(unknown)}")
        config = self
        if "invoice_rate" in changes:
            raw = changes["invoice_rate"]
            if raw is None:
                rate = None
            elif isinstance(raw, dict):
                base = self.invoice_rate or InvoiceRateLimit()
                rate = replace(
                    base,
                    points=int(raw.get("points", base.points)),
                    window_seconds=float(raw.get("window_seconds", base.window_seconds)),
                    block_seconds=float(raw.get("block_seconds", base.block_seconds)),
                )
            else:
                raise ValueError("invoice_rate must be an object or null")
            config = replace(config, invoice_rate=rate)
        if "intraledger_daily_cents" in changes:
            cents = changes["intraledger_daily_cents"]
            config = replace(config, intraledger_daily_cents=None if cents is None else int(cents))
        return config


@dataclass
class _Window:
    started: float
    count: int = 0
    blocked_until: float | None = None


class Limits:
    """Thread-safe counters for one fake. ``cents_for_sats`` prices a send in US cents."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        cents_for_sats: Callable[[int], int],
        config: LimitsConfig | None = None,
    ) -> None:
        self._clock = clock
        self._cents_for_sats = cents_for_sats
        self._lock = threading.Lock()
        self._config = config if config is not None else LimitsConfig()
        self._windows: dict[str, _Window] = {}
        self._sends: dict[str, deque[tuple[float, int]]] = {}

    @property
    def config(self) -> LimitsConfig:
        return self._config

    def configure(self, config: LimitsConfig) -> None:
        with self._lock:
            self._config = config

    def reset_counters(self) -> None:
        """Forget every window, block and recorded send volume (the configuration stays)."""
        with self._lock:
            self._windows.clear()
            self._sends.clear()

    # -- invoice creation ---------------------------------------------------------------------

    def consume_invoice_create(self, account_id: str) -> None:
        """Count one creation attempt for ``account_id``; ``BlinkFailure(TOO_MANY_REQUEST)`` when refused."""
        with self._lock:
            rate = self._config.invoice_rate
            if rate is None:
                return
            now = self._clock()
            window = self._windows.get(account_id)
            if window is not None and window.blocked_until is not None:
                if now < window.blocked_until:
                    raise BlinkFailure("TOO_MANY_REQUEST", TOO_MANY_MESSAGE)
                window = None  # the block is over: a fresh window
            if window is None or now >= window.started + rate.window_seconds:
                window = _Window(started=now)
                self._windows[account_id] = window
            window.count += 1
            if window.count > rate.points:
                window.blocked_until = now + rate.block_seconds
                raise BlinkFailure("TOO_MANY_REQUEST", TOO_MANY_MESSAGE)

    def blocked_until(self, account_id: str) -> float | None:
        with self._lock:
            window = self._windows.get(account_id)
            if window is None or window.blocked_until is None or window.blocked_until <= self._clock():
                return None
            return window.blocked_until

    # -- intraledger volume -------------------------------------------------------------------

    def _volume_locked(self, account_id: str, now: float) -> int:
        sends = self._sends.get(account_id)
        if not sends:
            return 0
        while sends and sends[0][0] <= now - DAY_SECONDS:
            sends.popleft()
        return sum(cents for _, cents in sends)

    def charge_intraledger(self, account_id: str, amount_sats: int) -> None:
        """Count a send of ``amount_sats`` against the account's rolling 24 h volume, or refuse it
        with ``BlinkFailure(TRANSACTION_RESTRICTED)`` (nothing counted) when it would pass the limit."""
        with self._lock:
            limit = self._config.intraledger_daily_cents
            if limit is None:
                return
            now = self._clock()
            cents = self._cents_for_sats(amount_sats)
            if self._volume_locked(account_id, now) + cents > limit:
                raise BlinkFailure(
                    "TRANSACTION_RESTRICTED", f"Cannot transfer more than {limit / 100:.2f} USD in 24 hours"
                )
            self._sends.setdefault(account_id, deque()).append((now, cents))

    def state(self) -> dict[str, Any]:
        with self._lock:
            now = self._clock()
            return {
                "config": self._config.as_dict(),
                "invoice_windows": {
                    account: {
                        "started": w.started,
                        "count": w.count,
                        "blocked_until": w.blocked_until if w.blocked_until and w.blocked_until > now else None,
                    }
                    for account, w in self._windows.items()
                },
                "intraledger_cents_24h": {account: self._volume_locked(account, now) for account in self._sends},
            }
