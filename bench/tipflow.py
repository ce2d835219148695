"""Paid -> staff has the tip (issue 22 §2 and §4), as a user sees it, on the real stack.

One sale at a time (so the figure is the path's own latency, not a queue): created through the API,
paid at the fake Blink, whose webhook goes to the stack as in production (fake -> ``/webhooks/blink``
-> Celery -> detection -> forward of every leg over HTTP to the fake). Measured per sale:

- **pay -> last leg**: from the moment the bench asks the fake to pay (the customer's payment) to the
  ``leg_succeeded`` event of the sale's last leg (PostgreSQL's clock; same host);
- **paid -> completed**: ``payment_splits.paid_at`` to ``processed_at`` (the forward alone), and how it
  divides: the time at least one of the forward's requests was inside the fake Blink (from its arrival
  to its answer, as the fake logs them: the injected latency plus the fake's own handling) and the
  rest, which is BlinkPOS's (the worker, PostgreSQL, Redis and the loopback between them);
- **worker CPU ms per leg**: the Celery workers' process-tree CPU over the whole series divided by the
  legs forwarded (detection and the webhook task included).

At 0 and 100 ms provider latency (the fake's ``/control/latency`` on every GraphQL operation), with 1
leg (a sale without tip) and 4 legs (the bench's three-way tip split + the merchant).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import httpx
import psycopg

from bench import api
from bench.procs import log
from bench.stack import BENCH_WEBHOOK_SECRET, Stack, pg_dsn

ONE_LEG_BODY = json.dumps({"amount_sats": 1000, "memo": "bench tipflow"})


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def _finished(conn: psycopg.Connection[Any], payment_hash: str) -> tuple[float, float, float] | None:
    """(paid_at, processed_at, last leg_succeeded) as epoch seconds once the split completed."""
    row = conn.execute(
        "SELECT extract(epoch FROM s.paid_at), extract(epoch FROM s.processed_at), "
        "(SELECT extract(epoch FROM max(e.timestamp)) FROM payment_events e "
        " WHERE e.payment_hash = s.payment_hash AND e.event_type = 'leg_succeeded') "
        "FROM payment_splits s WHERE s.payment_hash = %s AND s.status = 'completed'",
        [payment_hash],
    ).fetchone()
    if row is None or row[1] is None or row[2] is None:
        return None
    return float(row[0]), float(row[1]), float(row[2])


def provider_ms(requests: list[dict[str, Any]], start: float, end: float) -> float:
    """Milliseconds of ``start``..``end`` during which at least one request was inside the fake (the union
    of their ``arrived``..``at`` intervals: concurrent creates count once)."""
    inside = [r for r in requests if r["at"] > start and r["arrived"] < end]
    spans = sorted((max(r["arrived"], start), min(r["at"], end)) for r in inside)
    total, reach = 0.0, start
    for begin, finish in spans:
        begin = max(begin, reach)
        if finish > begin:
            total += finish - begin
            reach = finish
    return total * 1000


def series(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, legs: int, latency: float, sales: int,
    timeout: float = 30.0,
) -> dict[str, Any]:  # fmt: skip
    body = api.create_body(fx) if legs > 1 else ONE_LEG_BODY
    headers = {**api.auth_headers(fx), "Content-Type": "application/json"}
    pay_to_leg: list[float] = []
    paid_to_done: list[float] = []
    windows: list[tuple[float, float]] = []
    lost = 0
    control.webhooks_to(f"{stack.base_url}/webhooks/blink", BENCH_WEBHOOK_SECRET)
    try:
        with (
            httpx.Client(base_url=stack.base_url, headers=headers, timeout=30) as client,
            psycopg.connect(pg_dsn(stack.db_url), autocommit=True) as conn,
        ):
            hashes = []
            for _ in range(sales):  # created first, at 0 ms: only the payment's path is timed
                reply = client.post(api.INVOICES, content=body)
                reply.raise_for_status()
                hashes.append(api.payment_hash_of(reply.json()))
            control.latency(latency)
            time.sleep(1.0)
            cpu0 = stack.worker_cpu()
            for payment_hash in hashes:
                started = time.time()
                control.pay(payment_hash)
                deadline = time.monotonic() + timeout
                done = None
                while done is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                    done = _finished(conn, payment_hash)
                if done is None:
                    lost += 1
                    continue
                paid_at, processed_at, last_leg = done
                pay_to_leg.append((last_leg - started) * 1000)
                paid_to_done.append((processed_at - paid_at) * 1000)
                windows.append((paid_at, processed_at))
            cpu1 = stack.worker_cpu()
            requests = control.requests()
    finally:
        control.latency(0.0)
        control.webhooks_to(None, None)
    done_sales = len(pay_to_leg)
    provider = [provider_ms(requests, start, end) for start, end in windows]
    own = [whole - inside for whole, inside in zip(paid_to_done, provider, strict=True)]
    result = {
        "name": f"paid -> staff has the tip ({legs} leg{'s' if legs > 1 else ''}, {int(latency * 1000)} ms provider)",
        "legs": legs,
        "latency_ms": int(latency * 1000),
        "sales": sales,
        "completed": done_sales,
        "not_completed": lost,
        "pay_to_last_leg_p50_ms": round(_pct(pay_to_leg, 0.5), 1),
        "pay_to_last_leg_p99_ms": round(_pct(pay_to_leg, 0.99), 1),
        "paid_to_completed_p50_ms": round(_pct(paid_to_done, 0.5), 1),
        "paid_to_completed_p99_ms": round(_pct(paid_to_done, 0.99), 1),
        "paid_to_completed_mean_ms": round(statistics.fmean(paid_to_done), 1) if paid_to_done else 0.0,
        "paid_to_completed_provider_p50_ms": round(_pct(provider, 0.5), 1),
        "paid_to_completed_own_p50_ms": round(_pct(own, 0.5), 1),
        "worker_cpu_ms_per_leg": round((cpu1 - cpu0) * 1000 / max(done_sales * legs, 1), 2),
        "worker_cpu_ms_per_sale": round((cpu1 - cpu0) * 1000 / max(done_sales, 1), 2),
    }
    log(
        f"  {result['name']}: pay->last leg p50 {result['pay_to_last_leg_p50_ms']} / p99 "
        f"{result['pay_to_last_leg_p99_ms']} ms; paid->completed p50 {result['paid_to_completed_p50_ms']} ms "
        f"(in the fake {result['paid_to_completed_provider_p50_ms']}, "
        f"BlinkPOS {result['paid_to_completed_own_p50_ms']}); "
        f"worker {result['worker_cpu_ms_per_leg']} CPU ms/leg; {done_sales}/{sales} completed"
    )
    return result
