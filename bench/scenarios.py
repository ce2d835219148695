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
from bench.loadgen import LoadSpec, run_load
from bench.measure import Measurement, measure, measure_paired, run_once
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
    wrk: str | None, label: str = "", paired_floor: tuple[str, LoadSpec] | None = None,
) -> dict[str, Measurement]:  # fmt: skip
    """Hot polling (measured in alternation with ``paired_floor`` when given: the ratio's two sides
    then share the machine's conditions run by run), then cold polling, then the keys re-warmed.
    The result has "hot", "cold" and, with a paired floor, "floor"."""
    spec = polling_spec(stack, fx, hashes, duration=duration, connections=connections)
    hot_name = f"status polling hot{label}"
    out: dict[str, Measurement] = {}
    if paired_floor is not None:
        floor_name, floor_spec = paired_floor
        paired = measure_paired(stack, {floor_name: lambda: floor_spec, hot_name: lambda: spec}, runs=runs, wrk=wrk)
        out["floor"], hot = paired[floor_name], paired[hot_name]
    else:
        hot = measure(hot_name, stack, lambda: spec, runs=runs, wrk=wrk)
    cold = measure(
        f"status polling cold{label}", stack, lambda: spec, runs=runs, wrk=wrk,
        before_each=lambda: delete_hot_keys(stack.redis_url),
    )  # fmt: skip
    cold.note = "tip:* deleted before each run; the first read of each hash falls back to PostgreSQL and re-warms"
    rewarm(stack, fx, hashes)
    return {**out, "hot": hot, "cold": cold}


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


def _paid(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, count: int, *, duplicates: float
) -> tuple[list[str], list[tuple[str, str, str, str]]]:
    """``count`` invoices created through the API and paid at the fake, with the signed deliveries that
    announce them (+ ``duplicates``), not yet delivered."""
    hashes = api.create_invoices(stack.base_url, fx, count)
    # Record the fake's webhook bodies without delivering them (nothing listens on port 9).
    control.webhooks_to("http://127.0.0.1:9/webhooks/blink", BENCH_WEBHOOK_SECRET)
    for payment_hash in hashes:
        control.pay(payment_hash)
    control.webhooks_to(None, None)
    return hashes, _signed_deliveries(control.messages(), set(hashes), duplicates=duplicates)


def _warm_up(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, payments: int, connections: int,
    wrk: str | None, forward_timeout: float,
) -> None:  # fmt: skip
    """An unmeasured burst of ``payments`` real payments, forwarded before the measured one starts.

    Until then the web processes have never published a Celery task (creates and polls publish
    nothing), so each thread's first acknowledgement pays for the broker connection and Celery's
    lazy setup: in a 333-delivery burst that alone moved the ack p99 from ~120 to ~360 ms. A server
    in service acknowledges a webhook for every payment, so the measured burst starts warm."""
    hashes, deliveries = _paid(stack, fx, control, payments, duplicates=0.0)
    spec = LoadSpec(stack.base_url, "webhook", 120, connections, path=WEBHOOK_PATH, deliveries=deliveries)
    run_load(spec, wrk=wrk)
    deadline = time.monotonic() + forward_timeout
    while forwarded_count(stack, hashes) < len(hashes) and time.monotonic() < deadline:
        time.sleep(0.5)
    log(f"  warm-up: {len(deliveries)} deliveries acknowledged, {forwarded_count(stack, hashes)} forwarded")


def webhook_burst(
    stack: Stack, fx: dict[str, Any], control: api.FakeControl, *, payments: int, latency: float,
    connections: int, wrk: str | None, forward_timeout: float, warmup: int = 0,
) -> Measurement:  # fmt: skip
    """``payments`` paid invoices announced by signed deliveries (+10 % duplicates) as fast as accepted.

    ``connections`` closed-loop senders (``--burst-connections``, default 16): the concurrency of one
    webhook sender such as Svix working through a backlog, not a crowd of clients. The acknowledgement
    only records the delivery and publishes its task; detection and forwarding run on the Celery
    workers on the same cores meanwhile, and "forwarded" waits for them. ``warmup`` payments are
    delivered and forwarded first, unmeasured (see ``_warm_up``)."""
    name = f"webhook burst ({payments} payments, {int(latency * 1000)} ms provider, {connections} senders)"
    if warmup:
        log(f"{name}: warming up with {warmup} payments")
        _warm_up(stack, fx, control, payments=warmup, connections=connections, wrk=wrk, forward_timeout=forward_timeout)
    log(f"{name}: creating and paying {payments} invoices")
    hashes, deliveries = _paid(stack, fx, control, payments, duplicates=0.10)
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
