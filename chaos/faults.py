"""The fault driver: at seeded random intervals, one of the outages below, while sales run.

Faults overlap on purpose (real outages stack up): a slow provider is switched off by a timer, not by
waiting, so the next fault can land inside it. Every fault is logged with its time and detail.

    worker_sigkill       SIGKILL a Celery worker process group, restart it after a moment
    worker_fault_point   restart a worker that SIGKILLs itself right before / right after a send
    redis_restart        SHUTDOWN NOSAVE our Redis and start it empty (queue, hot keys, locks lost)
    redis_pause          CLIENT PAUSE our Redis for 1-3 s
    pg_restart           pg_ctl -m immediate on our PostgreSQL, start it again
    fake_slow            every fake Blink operation answers 0.4-1.0 s late, for a few seconds
    fake_timeout_apply   sends apply, then the connection drops / the answer comes too late
    fake_pending         sends answer PENDING, then settle as success on later lookups
    fake_too_many        TOO_MANY_REQUEST on payout invoices and sends
    webhook_redeliver    already-delivered webhooks again, shuffled, several times each, concurrently
    fake_already_paid_failure  Blink's payment-flow cache: a paid invoice sent again answers FAILURE
                         "Invoice is already paid" (at once for a few seconds, then after Blink's 300 s)
    fake_error_after_apply     sends are recorded in Blink's ledger, then answered FAILURE with an error
    fake_daily_limit     the platform's daily intraledger limit is reached for a few seconds: sends answer
                         TRANSACTION_RESTRICTED and wait on their limit schedule (short in the soak)
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.stack import WORKER_NAMES, ChaosStack

ALL_FAULTS = (
    "worker_sigkill",
    "worker_fault_point",
    "redis_restart",
    "redis_pause",
    "pg_restart",
    "fake_slow",
    "fake_timeout_apply",
    "fake_pending",
    "fake_too_many",
    "webhook_redeliver",
    "fake_already_paid_failure",
    "fake_error_after_apply",
    "fake_daily_limit",
)


@dataclass
class FaultLog:
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class FaultDriver:
    def __init__(
        self,
        stack: ChaosStack,
        *,
        seed: int,
        kinds: tuple[str, ...] = ALL_FAULTS,
        interval: tuple[float, float] = (1.5, 5.0),
    ) -> None:
        unknown = set(kinds) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.stack = stack
        self.rng = random.Random(seed)
        self.kinds = kinds
        self.interval = interval
        self.log = FaultLog()
        self.redelivered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []
        self._started = 0.0

    # -- control --------------------------------------------------------------------------------

    def start(self) -> None:
        if "fake_already_paid_failure" in self.kinds:
            # As strict as Blink from the first sale: ALREADY_PAID only inside its 300 s flow cache.
            self._fake("/control/already-paid", {"flow_seconds": 300})
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="faults", daemon=True)
        self._thread.start()

    def wait_until_each_fired(self, *, stop: threading.Event) -> None:
        """Block until every enabled kind has been injected at least once, or ``stop`` is set."""
        while not stop.is_set() and any(self.log.counts[kind] == 0 for kind in self.kinds):
            stop.wait(0.2)

    def stop(self) -> None:
        """Stop injecting; undo what is still active (latency, scripts); every process running again."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        for timer in self._timers:
            timer.cancel()
        # Undo what a cancelled timer would have undone: scripts and latency, the daily limit, and the
        # already-paid window (back to Blink's 300 s).
        self._fake("/control/reset", {})
        if "fake_daily_limit" in self.kinds:
            self._fake("/control/limits", {"intraledger_daily_cents": None})
        if "fake_already_paid_failure" in self.kinds:
            self._fake("/control/already-paid", {"flow_seconds": 300})
        for name in list(self.stack.expect_exit):  # a fault-point worker that never reached a send
            if self.stack.procs[name].proc.poll() is None:
                self.stack.kill(name)
            self.stack.expect_exit.discard(name)
            self.stack.restart(name)
        self.stack.supervise()

    def _loop(self) -> None:
        deck: list[str] = []
        while not self._stop.wait(self.rng.uniform(*self.interval)):
            # Shuffled rounds over the enabled kinds: random order, yet every kind fires in a short run.
            if not deck:
                deck = list(self.kinds)
                self.rng.shuffle(deck)
            kind = deck.pop()
            at = round(time.monotonic() - self._started, 2)
            try:
                detail = getattr(self, f"_{kind}")()
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                self.log.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                detail = {"error": type(exc).__name__}
            if detail and detail.get("skipped"):
                # Nothing to act on yet (e.g. no webhook delivered so far): the kind goes back into the
                # deck, so a short run under load still sees every enabled fault happen.
                deck.insert(0, kind)
                self.log.events.append({"t": at, "kind": kind, **detail})
                continue
            self.log.counts[kind] += 1
            self.log.events.append({"t": at, "kind": kind, **(detail or {})})
            # A crashed process (e.g. beat losing its database) is restarted and recorded.
            for name in self.stack.supervise():
                self.log.events.append({"t": at, "kind": "crash_restart", "process": name})

    def _fake(self, path: str, body: dict[str, Any]) -> None:
        httpx.post(f"{self.stack.fake_url}{path}", json=body, timeout=10).raise_for_status()

    def _later(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    # -- the faults -----------------------------------------------------------------------------

    def _worker_sigkill(self) -> dict[str, Any]:
        name = self.rng.choice(WORKER_NAMES)
        pid = self.stack.kill(name)
        time.sleep(self.rng.uniform(0.3, 2.0))
        self.stack.restart(name)
        return {"worker": name, "pid": pid}

    def _worker_fault_point(self) -> dict[str, Any]:
        name = self.rng.choice(WORKER_NAMES)
        point = self.rng.choice(("before_send", "after_send"))
        self.stack.kill(name)
        # This worker dies at its first send; supervise() restarts it without the fault.
        self.stack.restart(name, fault=point)
        return {"worker": name, "point": point}

    def _redis_restart(self) -> dict[str, Any]:
        down = self.rng.uniform(0.5, 2.0)
        self.stack.redis.restart_losing_data(down_seconds=down)
        return {"down_s": round(down, 2)}

    def _redis_pause(self) -> dict[str, Any]:
        seconds = self.rng.uniform(1.0, 3.0)
        self.stack.redis.pause(seconds)
        return {"paused_s": round(seconds, 2)}

    def _pg_restart(self) -> dict[str, Any]:
        down = self.rng.uniform(0.5, 2.0)
        self.stack.pg.restart_immediate(down_seconds=down)
        return {"down_s": round(down, 2)}

    def _fake_slow(self) -> dict[str, Any]:
        latency, duration = self.rng.uniform(0.4, 1.0), self.rng.uniform(2.0, 6.0)
        self._fake("/control/latency", {"operation": "*", "seconds": latency})
        self._later(duration, lambda: self._fake("/control/latency", {"operation": "*", "seconds": 0}))
        return {"latency_s": round(latency, 2), "for_s": round(duration, 2)}

    def _script(self, operation: str, outcome: str, count: int) -> dict[str, Any]:
        self._fake("/control/script", {"operation": operation, "outcomes": [outcome] * count})
        return {"operation": operation, "outcome": outcome, "count": count}

    def _fake_timeout_apply(self) -> dict[str, Any]:
        outcome = self.rng.choice(("TIMEOUT_AFTER_APPLY", "TIMEOUT_AFTER_APPLY_SLEEP"))
        return self._script("lnInvoicePaymentSend", outcome, self.rng.randint(1, 3))

    def _fake_pending(self) -> dict[str, Any]:
        return self._script("lnInvoicePaymentSend", "PENDING_THEN_SUCCESS", self.rng.randint(1, 4))

    def _fake_too_many(self) -> dict[str, Any]:
        operation = self.rng.choice(("lnInvoicePaymentSend", "lnInvoiceCreateOnBehalfOfRecipient"))
        return self._script(operation, "TOO_MANY_REQUEST", self.rng.randint(1, 3))

    def _fake_already_paid_failure(self) -> dict[str, Any]:
        duration = self.rng.uniform(2.0, 6.0)
        self._fake("/control/already-paid", {"flow_seconds": 0})
        self._later(duration, lambda: self._fake("/control/already-paid", {"flow_seconds": 300}))
        return {"for_s": round(duration, 2), "then_flow_s": 300}

    def _fake_daily_limit(self) -> dict[str, Any]:
        duration = self.rng.uniform(2.0, 6.0)
        self._fake("/control/limits", {"intraledger_daily_cents": 1})  # every send is over it
        self._later(duration, lambda: self._fake("/control/limits", {"intraledger_daily_cents": None}))
        return {"for_s": round(duration, 2)}

    def _fake_error_after_apply(self) -> dict[str, Any]:
        return self._script("lnInvoicePaymentSend", "ERROR_AFTER_APPLY", self.rng.randint(1, 3))

    def _webhook_redeliver(self) -> dict[str, Any]:
        messages = httpx.get(f"{self.stack.fake_url}/control/webhooks", timeout=60).json()
        ids = [m["svix_id"] for m in messages if m["event_type"].startswith("receive")]
        if not ids:
            return {"skipped": "no webhook delivered yet"}
        chosen = self.rng.sample(ids, min(len(ids), self.rng.randint(5, 25)))
        batch = [svix_id for svix_id in chosen for _ in range(self.rng.randint(2, 6))]
        self.rng.shuffle(batch)  # out of order, interleaved duplicates
        codes: Counter[str] = Counter()

        def send(svix_id: str) -> None:
            try:
                reply = httpx.post(f"{self.stack.fake_url}/control/redeliver", json={"svix_id": svix_id}, timeout=30)
                codes[str(reply.json().get("status_code"))] += 1
            except (httpx.HTTPError, ValueError) as exc:
                codes[type(exc).__name__] += 1

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(send, batch))
        self.redelivered += len(batch)
        return {"messages": len(chosen), "deliveries": len(batch), "answers": dict(codes)}
