"""The rest of the soak's mix, beside the tipped sales: tip-only payments to the shops' pay codes
(``chaos.tip_payments``, run while the sales run) and refunds of a few completed sales
(``chaos.refunds``: partial and full, some with the tip refunded, run after the sales while the faults
are still being injected). Both are drawn from the seed; every wait is bounded, and what happened is
counted here while the money itself is judged afterwards from the books (``chaos.invariants``).
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

from chaos.refunds import RefundRun, refund_and_claim
from chaos.sales import SaleResult
from chaos.tip_payments import TipPaymentResult, tip_payment

TIP_SHARE = 0.05  # tip-only payments, as a share of the sales
REFUND_SHARE = 0.03  # refunds, as a share of the sales
# (amount: None = everything left, else a fraction of the sale's base; tip_refunded)
REFUND_KINDS: tuple[tuple[float | None, bool], ...] = ((None, True), (0.5, False), (0.4, True), (None, False))


@dataclass
class MixStats:
    tips: list[TipPaymentResult] = field(default_factory=list)
    refunds: list[RefundRun] = field(default_factory=list)
    refund_kinds: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "tip_payments": {
                "attempted": len(self.tips),
                "paid": sum(1 for t in self.tips if t.paid),
                "sats": sum(t.amount_sats for t in self.tips if t.paid),
                "errors": dict(Counter(t.error for t in self.tips if t.error)),
            },
            "refunds": {
                "attempted": len(self.refunds),
                "created": sum(1 for r in self.refunds if r.refund_id is not None),
                "funded": sum(1 for r in self.refunds if r.funded),
                "claimed": sum(1 for r in self.refunds if r.claimed),
                "status": dict(Counter(r.status or "none" for r in self.refunds)),
                "kinds": dict(self.refund_kinds),
                "errors": dict(Counter(r.error[:60] for r in self.refunds if r.error)),
            },
        }


class MixDriver:
    def __init__(
        self,
        *,
        base_url: str,
        fake_url: str,
        merchants: list[dict[str, Any]],
        customer_wallet_id: str,
        seed: int,
        concurrency: int = 4,
    ) -> None:
        self.base_url, self.fake_url = base_url, fake_url
        self.merchants = merchants
        self.customer_wallet_id = customer_wallet_id
        self.rng = random.Random(seed * 7919 + 1)
        self.concurrency = concurrency
        self.stats = MixStats()

    def tip_payments(self, count: int, *, stop: threading.Event | None = None) -> None:
        """``count`` tip-only payments, one pay code after another, each retried (bounded) through outages."""
        codes = [code for shop in self.merchants for code in shop["paycodes"]]
        plan = [(codes[i % len(codes)], random.Random(self.rng.random())) for i in range(count)]

        def one(item: tuple[str, random.Random]) -> TipPaymentResult:
            username, rng = item
            result = TipPaymentResult(username=username, error="stopped: time budget")
            with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0)) as client:
                for attempt in range(5):
                    if stop is not None and stop.is_set():
                        break
                    result = tip_payment(
                        client, base_url=self.base_url, fake_url=self.fake_url, username=username, rng=rng
                    )
                    # Retry only before an invoice exists: once it does, paying again could pay twice.
                    if result.paid or result.payment_hash:
                        break
                    time.sleep(0.5 * (attempt + 1))
            return result

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tip") as pool:
            self.stats.tips = list(pool.map(one, plan))

    def refunds(self, sales: list[SaleResult], plan: list[dict[str, Any]], count: int, *, timeout: float) -> None:
        """Refund ``count`` of the paid sales (drawn from the seed) once each is completed. A sale a
        killed worker left processing is replaced by another paid sale that is completed already."""
        paid = [r for r in sales if r.paid]
        paid = self.rng.sample(paid, len(paid))
        chosen, spares = paid[:count], iter(paid[count:])
        lock = threading.Lock()
        by_index = {sale["index"]: sale for sale in plan}
        jobs = [(result, *REFUND_KINDS[n % len(REFUND_KINDS)]) for n, result in enumerate(chosen)]

        def completed_sale(first: SaleResult) -> SaleResult | None:
            key = by_index[first.index]["key"]
            if self._wait_completed(first.payment_hash, key, timeout=timeout / 2):
                return first
            for _ in range(20):  # bounded: a few spares, one look each
                with lock:
                    spare = next(spares, None)
                if spare is None:
                    break
                if self._wait_completed(spare.payment_hash, by_index[spare.index]["key"], timeout=0):
                    return spare
            return None

        def one(job: tuple[SaleResult, float | None, bool]) -> RefundRun:
            first, fraction, tip_refunded = job
            sale = completed_sale(first)
            if sale is None:
                return RefundRun(payment_hash=first.payment_hash, error="sale not completed in time")
            payment_hash, key = sale.payment_hash, by_index[sale.index]["key"]
            base = int(by_index[sale.index]["body"]["amount_sats"])
            amount = None if fraction is None else max(1, int(base * fraction))
            with lock:
                self.stats.refund_kinds[
                    f"{'full' if amount is None else 'partial'}{'+tip' if tip_refunded else ''}"
                ] += 1
            try:
                return refund_and_claim(
                    api_url=self.base_url, api_key=key, fake_url=self.fake_url, payment_hash=payment_hash,
                    customer_wallet_id=self.customer_wallet_id, amount_sats=amount, tip_refunded=tip_refunded,
                    timeout=timeout,
                )  # fmt: skip
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                # An outage mid-refund: the refund (if created) is judged from the books afterwards.
                return RefundRun(payment_hash=payment_hash, error=f"driver: {type(exc).__name__}")

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="refund") as pool:
            self.stats.refunds = list(pool.map(one, jobs))

    def _wait_completed(self, payment_hash: str, key: str, *, timeout: float) -> bool:
        """Whether the API shows the sale completed within ``timeout`` seconds (0: one look)."""
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Api-Key {key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10) as api:
            while True:
                try:
                    reply = api.get(f"/api/v1/invoices/{payment_hash}")
                    if reply.status_code == 200 and reply.json().get("status") == "completed":
                        return True
                except (httpx.HTTPError, ValueError):
                    pass  # the web process or Redis is being faulted: ask again
                if time.monotonic() >= deadline:
                    return False
                time.sleep(1.0)
