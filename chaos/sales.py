"""The sales driver: tipped sales through the real API, paid by a customer at the fake Blink.

Each sale: ``POST /api/v1/invoices`` as a terminal (with an ``Idempotency-Key``, retried with the
same key through outages, as a well-behaved POS does) → ``POST /control/pay`` at the fake (a customer
pays; the fake sends the signed webhook) → sometimes ``POST /api/v1/invoices/{hash}/check``. The
bolt11 the API returns is never written anywhere.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class SaleResult:
    index: int
    payment_hash: str = ""
    created: bool = False
    paid: bool = False
    create_attempts: int = 0
    error: str = ""


@dataclass
class SalesStats:
    results: list[SaleResult] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> dict[str, Any]:
        created = [r for r in self.results if r.created]
        return {
            "attempted": len(self.results),
            "created": len(created),
            "paid_by_customer": sum(1 for r in self.results if r.paid),
            "create_retries": sum(max(r.create_attempts - 1, 0) for r in self.results),
            "gave_up": sum(1 for r in self.results if not r.created),
            "errors": dict(Counter(r.error for r in self.results if r.error)),
            "http_statuses": dict(self.statuses),
        }


class SalesDriver:
    def __init__(
        self,
        *,
        base_url: str,
        fake_url: str,
        merchants: list[dict[str, Any]],
        seed: int,
        concurrency: int = 8,
        give_up_after: float = 90.0,
    ) -> None:
        self.base_url, self.fake_url = base_url, fake_url
        self.merchants = merchants
        self.rng = random.Random(seed)
        self.concurrency = concurrency
        self.give_up_after = give_up_after
        self.stats = SalesStats()
        self.plan_used: list[dict[str, Any]] = []
        self._local = threading.local()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
            self._local.client = client
        return client

    def plan(self, count: int) -> list[dict[str, Any]]:
        """All sales drawn up front from the seed, so a run is reproducible whatever the timing."""
        sales = []
        for index in range(count):
            shop = self.merchants[index % len(self.merchants)]
            body: dict[str, Any] = {
                "amount_sats": self.rng.randint(100, 50_000),
                "tip_percent": str(self.rng.choice([5, 10, 12.5, 15, 18, 20, 25])),
                "memo": f"chaos sale {index}",
            }
            if self.rng.random() < 0.5:
                body["split_profile_id"] = shop["profile_id"]
            else:
                body["staff_id"] = self.rng.choice(shop["staff_ids"])
            sales.append({"index": index, "key": shop["key"], "body": body, "check": self.rng.random() < 0.1})
        return sales

    def _post(self, url: str, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self._client().post(url, **kwargs)
        except httpx.HTTPError as exc:
            with self.stats.lock:
                self.stats.statuses[type(exc).__name__] += 1
            return None
        with self.stats.lock:
            self.stats.statuses[str(response.status_code)] += 1
        return response

    def one(self, sale: dict[str, Any]) -> SaleResult:
        result = SaleResult(index=sale["index"])
        headers = {"Authorization": f"Api-Key {sale['key']}", "Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + self.give_up_after
        delay = 0.2
        while time.monotonic() < deadline:
            result.create_attempts += 1
            response = self._post(f"{self.base_url}/api/v1/invoices", json=sale["body"], headers=headers)
            if response is not None and response.status_code == 201:
                result.payment_hash = response.json()["payment_hash"]
                result.created = True
                break
            # 409 idempotency_in_progress: the first attempt with this key is (or was) still running.
            in_progress = response is not None and response.status_code == 409 and "in_progress" in response.text
            if response is not None and response.status_code not in RETRY_STATUSES and not in_progress:
                result.error = f"create {response.status_code}: {response.text[:120]}"
                return result
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
        if not result.created:
            result.error = "create: gave up"
            return result
        while time.monotonic() < deadline:
            response = self._post(f"{self.fake_url}/control/pay", json={"payment_hash": result.payment_hash})
            if response is not None and response.status_code == 200:
                result.paid = True
                break
            time.sleep(0.2)
        if sale["check"]:
            auth = {"Authorization": headers["Authorization"]}
            self._post(f"{self.base_url}/api/v1/invoices/{result.payment_hash}/check", headers=auth)
        return result

    def run(self, count: int, *, stop: threading.Event | None = None) -> SalesStats:
        sales = self.plan_used = self.plan(count)

        def guarded(sale: dict[str, Any]) -> SaleResult:
            if stop is not None and stop.is_set():
                return SaleResult(index=sale["index"], error="stopped: time budget")
            return self.one(sale)

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="sale") as pool:
            self.stats.results = list(pool.map(guarded, sales))
        return self.stats
