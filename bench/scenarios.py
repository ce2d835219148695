"""Issue 8 §2-§4 against the real endpoints: status polling (hot/cold), create invoice (zero and
250 ms provider, with polling alongside), and the webhook burst with forwarding."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import redis
from svix.webhooks import Webhook

from bench import api
from bench.loadgen import LoadSpec
from bench.measure import Measurement, measure, run_once
from bench.procs import log
from bench.stack import BENCH_WEBHOOK_SECRET, Stack, pg_dsn

WEBHOOK_PATH = "/webhooks/blink"


def delete_hot_keys(redis_url: str) -> int:
    """Cold polling: drop every ``tip:*`` key (only those; never FLUSHDB on someone's Redis)."""
    client = redis.Redis.from_url(redis_url)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match="tip:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    client.close()
    return deleted


def polling_spec(stack: Stack, fx: dict[str, Any], hashes: list[str], *, duration: float, connections: int) -> LoadSpec:
    return LoadSpec(
        stack.base_url, "get_many", duration, connections,
        paths=[f"{api.INVOICES}/{h}" for h in hashes], headers=api.auth_headers(fx),
    )  # fmt: skip


def create_spec(stack: Stack, fx: dict[str, Any], *, duration: float, connections: int) -> LoadSpec:
    return LoadSpec(
        stack.base_url, "post", duration, connections,
        path=api.INVOICES, body=api.create_body(fx), headers=api.auth_headers(fx),
    )  # fmt: skip


def polling(
    stack: Stack, fx: dict[str, Any], hashes: list[str], *, duration: float, connections: int, runs: int,
    wrk: str | None, label: str = "",
) -> dict[str, Measurement]:  # fmt: skip
    spec = polling_spec(stack, fx, hashes, duration=duration, connections=connections)
    hot = measure(f"status polling hot{label}", stack, lambda: spec, runs=runs, wrk=wrk)
    cold = measure(
        f"status polling cold{label}", stack, lambda: spec, runs=runs, wrk=wrk,
        before_each=lambda: delete_hot_keys(stack.redis_url),
    )  # fmt: skip
    cold.note = "tip:* deleted before each run; the first read of each hash falls back to PostgreSQL and re-warms"
    rewarm(stack, fx, hashes)
    return {"hot": hot, "cold": cold}


def rewarm(stack: Stack, fx: dict[str, Any], hashes: list[str]) -> None:
    """Read every hash once so later "hot" measurements are hot again after the cold runs."""
    with httpx.Client(base_url=stack.base_url, headers=api.auth_headers(fx), timeout=30) as client:
        for payment_hash in hashes:
            client.get(f"{api.INVOICES}/{payment_hash}")


def create(
    stack: Stack, fx: dict[str, Any], *, duration: float, connections: int, runs: int, wrk: str | None
) -> Measurement:
    spec = create_spec(stack, fx, duration=duration, connections=connections)
    return measure("create invoice (0 ms provider)", stack, lambda: spec, runs=runs, wrk=wrk)


def create_with_slow_provider(
    stack: Stack, fx: dict[str, Any], hashes: list[str], control: api.FakeControl, *, latency: float,
    duration: float, create_connections: int, poll_connections: int, runs: int, wrk: str | None,
) -> dict[str, Measurement]:  # fmt: skip
    """Polling alone, then polling while creates wait ``latency`` s on every provider call."""
    poll = polling_spec(stack, fx, hashes, duration=duration, connections=poll_connections)
    alone = measure("status polling alone (baseline)", stack, lambda: poll, runs=runs, wrk=wrk)
    control.latency(latency)
    under = Measurement(name=f"status polling under {int(latency * 1000)} ms-provider creates")
    creates = Measurement(name=f"create invoice ({int(latency * 1000)} ms provider)")
    try:
        for index in range(runs):
            box: dict[str, Any] = {}
            spec = create_spec(stack, fx, duration=duration + 2, connections=create_connections)

            def load_creates(spec: LoadSpec = spec, box: dict[str, Any] = box) -> None:
                box["create"] = run_once(stack, spec, wrk=wrk)[1]

            thread = threading.Thread(target=load_creates)
            thread.start()
            time.sleep(1.0)  # let the creates saturate their provider waits first
            _result, row = run_once(stack, poll, wrk=wrk)
            thread.join()
            under.runs.append(row)
            creates.runs.append(box["create"])
            log(
                f"  run {index + 1}/{runs}: polling p99 {row['p99_ms']:.1f} ms at {row['rps']:.0f} req/s; "
                f"creates {box['create']['rps']:.0f} req/s p99 {box['create']['p99_ms']:.0f} ms"
            )
    finally:
        control.latency(0.0)
    under.note = "CPU and SQL per request include the concurrent creates (same server processes)"
    return {"alone": alone, "under": under, "creates": creates}


def _signed_deliveries(
    messages: list[dict[str, Any]], hashes: set[str], *, duplicates: float
) -> list[tuple[str, str, str, str]]:
    """Re-sign the fake's recorded ``receive.lightning`` bodies now (fresh timestamps), add duplicates."""
    signer = Webhook(BENCH_WEBHOOK_SECRET)
    now = datetime.now(UTC)
    unique: list[tuple[str, str, str, str]] = []
    for message in messages:
        body = message["body"]
        if message.get("event_type") != "receive.lightning" or not any(h in body for h in hashes):
            continue
        signature = signer.sign(message["svix_id"], now, body)
        unique.append((message["svix_id"], str(int(now.timestamp())), signature, body))
    extra = random.Random(7).sample(unique, int(len(unique) * duplicates / (1 - duplicates)))
    deliveries = unique + extra
    random.Random(8).shuffle(deliveries)
    return deliveries


def forwarded_count(stack: Stack, hashes: list[str]) -> int:
    with psycopg.connect(pg_dsn(stack.db_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM payment_splits WHERE payment_hash = ANY(%s) AND status = 'completed'", [hashes]
        ).fetchone()
        return int(row[0]) if row else 0


def webhook_burst(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, payments: int, latency: float,
    connections: int, wrk: str | None, forward_timeout: float,
) -> Measurement:  # fmt: skip
    """``payments`` paid invoices announced by signed deliveries (+10 % duplicates) as fast as accepted.

    ``connections`` closed-loop senders (``--burst-connections``, default 16): the concurrency of one
    webhook sender such as Svix working through a backlog, not a crowd of clients. The acknowledgement
    only records the delivery and publishes its task; detection and forwarding run on the Celery
    workers on the same cores meanwhile, and "forwarded" waits for them."""
    name = f"webhook burst ({payments} payments, {int(latency * 1000)} ms provider, {connections} senders)"
    log(f"{name}: creating and paying {payments} invoices")
    hashes = api.create_invoices(stack.base_url, fx, payments)
    # Record the fake's webhook bodies without delivering them (nothing listens on port 9).
    control.webhooks_to("http://127.0.0.1:9/webhooks/blink", BENCH_WEBHOOK_SECRET)
    for payment_hash in hashes:
        control.pay(payment_hash)
    control.webhooks_to(None, None)
    deliveries = _signed_deliveries(control.messages(), set(hashes), duplicates=0.10)
    control.latency(latency)
    try:
        spec = LoadSpec(stack.base_url, "webhook", 300, connections, path=WEBHOOK_PATH, deliveries=deliveries)
        w0 = stack.worker_cpu()
        started = time.monotonic()
        _result, row = run_once(stack, spec, wrk=wrk)
        acked = time.monotonic()
        done = forwarded_count(stack, hashes)
        while done < len(hashes) and time.monotonic() - started < forward_timeout:
            time.sleep(0.5)
            done = forwarded_count(stack, hashes)
        finished = time.monotonic()
        w1 = stack.worker_cpu()
    finally:
        control.latency(0.0)
    measurement = Measurement(name=name, runs=[row])
    forward_seconds = finished - started
    measurement.extra = {
        "deliveries": len(deliveries),
        "senders": connections,
        "unique_payments": len(hashes),
        "ack_seconds": round(acked - started, 2),
        "forwarded": done,
        "unforwarded": len(hashes) - done,
        "seconds_until_all_forwarded": round(forward_seconds, 2) if done == len(hashes) else None,
        "forwarded_per_second": round(done / forward_seconds, 1) if forward_seconds else 0.0,
        "worker_cpu_ms_per_payment": round((w1 - w0) * 1000 / max(done, 1), 2),
    }
    log(
        f"  acks p99 {row['p99_ms']:.1f} ms ({row['rps']:.0f}/s); forwarded {done}/{len(hashes)} in "
        f"{forward_seconds:.1f}s ({measurement.extra['forwarded_per_second']}/s)"
    )
    return measurement
