"""Merchants' outgoing webhooks (docs/WEBHOOKS.md): ``python -m bench.webhooks_out`` (also part of
``make bench``; on its own: ``make bench-webhooks``).

1. Deliveries per second of one ``worker-webhooks`` process (Celery, concurrency 1, queue
   ``webhooks_out``, as ``make run`` starts it) to a loopback receiver answering 200 at once: N stored
   messages published at once, timed until the last is ``succeeded``.
2. Forwarding is not delayed by a slow receiver: paid → completed latency of real sales (created on
   the fake Blink, paid there, detected, forwarded by the ``forwarding`` worker) with the merchant's
   endpoint on a fast receiver, then on one that answers only after the send timeout, with a backlog
   of messages to it queued first (the webhooks worker is busy for the whole run).

Runs against a private bench database and the stack launcher, like ``python -m bench``; prints a
table and writes ``artifacts/bench/webhooks-out-<stamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.procs import log
from bench.stack import build_stack
from blinkpos.processes import ProcessGroup

ROOT = Path(__file__).resolve().parents[1]


class Receiver:
    """A loopback receiver: answers 200 after ``delay`` seconds, counts what it got."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.count, self._lock = delay, 0, threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.count += 1
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    self.send_response(200)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender timed out first

            def log_message(self, *args: Any) -> None:
                pass

        for port in range(21000, 22000):
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError:
                continue
            self.server.daemon_threads = True
            self.port = port
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
            return
        raise RuntimeError("no free port in 21000-21999 for a receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "blinkpos.settings.base"
    import django

    django.setup()


def _messages(endpoint_id: int, count: int) -> list[int]:
    from django.utils import timezone

    from payments.models import MerchantWebhookMessage
    from payments.services.webhook_outbox import event_body, new_msg_id

    now = timezone.now()
    body = event_body("invoice.paid", {"bench": True}, at=now)
    rows = MerchantWebhookMessage.objects.bulk_create(
        MerchantWebhookMessage(
            endpoint_id=endpoint_id,
            msg_id=new_msg_id(),
            event_type="invoice.paid",
            body=body,
            created_at=now,
            next_attempt_at=now,
            published_at=now,
        )
        for _ in range(count)
    )
    return [m.pk for m in rows]


def _succeeded(ids: list[int]) -> int:
    from payments.models import MerchantWebhookMessage

    return MerchantWebhookMessage.objects.filter(pk__in=ids, status="succeeded").count()


def deliveries_per_second(endpoint_id: int, count: int) -> dict[str, Any]:
    from payments.services.webhook_outbox import publish_sends

    warm = _messages(endpoint_id, 5)
    publish_sends(warm)
    _wait(lambda: _succeeded(warm) == len(warm), 60, "the webhooks worker to warm up")
    ids = _messages(endpoint_id, count)
    started = time.monotonic()
    publish_sends(ids)
    _wait(lambda: _succeeded(ids) == count, 600, f"{count} deliveries")
    elapsed = time.monotonic() - started
    return {"deliveries": count, "seconds": round(elapsed, 2), "per_second": round(count / elapsed, 1)}


def _sale(merchant_id: int) -> tuple[str, int]:
    from payments.models import Merchant, SplitProfile
    from payments.services.invoices import invoice_create

    merchant = Merchant.objects.get(pk=merchant_id)
    profile = SplitProfile.objects.filter(merchant=merchant).first()
    split = invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_sats=150, split_profile=profile)
    return split.payment_hash, split.total_amount


def forwarding_latencies(merchant_id: int, fake_url: str, sales: int) -> dict[str, Any]:
    """paid → completed (``paid_at`` to ``processed_at``, both written by the app), one sale at a time."""
    from bench.api import FakeControl
    from payments.models import PaymentSplit
    from payments.services.detection import payment_detected

    control = FakeControl(fake_url)
    latencies: list[float] = []
    try:
        for _ in range(sales):
            payment_hash, total = _sale(merchant_id)
            control.pay(payment_hash)
            payment_detected(payment_hash=payment_hash, amount_sats=total, source="bench")
            _wait(
                lambda h=payment_hash: PaymentSplit.objects.filter(payment_hash=h, status="completed").exists(),
                120,
                "a forward",
            )
            split = PaymentSplit.objects.get(payment_hash=payment_hash)
            assert split.paid_at is not None and split.processed_at is not None
            latencies.append((split.processed_at - split.paid_at).total_seconds() * 1000)
    finally:
        control.close()
    ordered = sorted(latencies)
    return {
        "sales": len(latencies),
        "p50_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


def run(*, deliveries: int, sales: int, slow_seconds: float, backlog: int, keep_db: bool) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = ROOT / "artifacts" / "bench" / f"webhooks-{stamp}"
    group = ProcessGroup(run_dir / "logs")
    fast, slow = Receiver(), Receiver(delay=slow_seconds)
    timeout = max(0.5, slow_seconds / 2)  # the slow receiver always times out: the worst case for a worker
    try:
        stack = build_stack(group=group, run_dir=run_dir, keep_db=keep_db)
        stack.env.update(
            MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS=f"127.0.0.1:{fast.port},127.0.0.1:{slow.port}",
            MERCHANT_WEBHOOKS_TIMEOUT_SECONDS=str(timeout),
        )
        stack.start_fake()
        from bench.run import _fixtures

        fx = _fixtures(stack)
        _django(stack.env)
        from blinkpos.celery_queues import FORWARDING, WEBHOOKS_IN, WEBHOOKS_OUT
        from payments.models import Merchant
        from payments.services.webhook_endpoints import endpoint_create, endpoint_update

        env = {k: v for k, v in stack.env.items() if k != "BLINKPOS_BENCH_QC_DIR"}
        stack.launcher.start_worker("worker-webhooks", queues=[WEBHOOKS_OUT], concurrency=1, env=env)
        stack.launcher.start_worker("worker", queues=[FORWARDING, WEBHOOKS_IN], concurrency=2, env=env)
        merchant = Merchant.objects.get(pk=fx["merchant_id"])
        events = ["invoice.paid", "payment.completed"]
        endpoint, _ = endpoint_create(merchant=merchant, url=fast.url, event_types=events)

        log(f"deliveries per second: {deliveries} messages to a loopback receiver, one worker (concurrency 1)")
        rate = deliveries_per_second(endpoint.pk, deliveries)
        log(f"  {rate['per_second']} deliveries/s")

        log(f"forwarding latency, {sales} sales, fast receiver")
        with_fast = forwarding_latencies(merchant.pk, stack.fake_url, sales)
        log(f"  p50 {with_fast['p50_ms']} ms")

        endpoint_update(endpoint=endpoint, url=slow.url)
        from payments.services.webhook_outbox import publish_sends

        publish_sends(_messages(endpoint.pk, backlog))  # the webhooks worker is busy for the whole run
        log(f"forwarding latency, {sales} sales, receiver answering after {slow_seconds}s (timeout {timeout}s)")
        with_slow = forwarding_latencies(merchant.pk, stack.fake_url, sales)
        log(f"  p50 {with_slow['p50_ms']} ms; slow receiver got {slow.count} requests meanwhile")
        result = {
            "when": stamp,
            "deliveries": rate,
            "forwarding_fast_receiver": with_fast,
            "forwarding_slow_receiver": with_slow | {"receiver_requests_during_run": slow.count},
            "config": {"slow_seconds": slow_seconds, "send_timeout_seconds": timeout, "backlog": backlog},
        }
    finally:
        group.stop_all()
        fast.stop()
        slow.stop()
    out = ROOT / "artifacts" / "bench" / f"webhooks-out-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


def table(result: dict[str, Any]) -> str:
    d = result["deliveries"]

    def latency(name: str, row: dict[str, Any]) -> str:
        figures = f"p50 {row['p50_ms']} ms  p90 {row['p90_ms']} ms  max {row['max_ms']} ms"
        return f"  forwarding paid->completed, {name}: {figures}"

    return "\n".join(
        [
            "merchant webhooks (outgoing)",
            f"  deliveries/s, 1 worker (concurrency 1), loopback 200: {d['per_second']}"
            f" ({d['deliveries']} in {d['seconds']} s)",
            latency("fast receiver", result["forwarding_fast_receiver"]),
            latency("slow receiver", result["forwarding_slow_receiver"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.webhooks_out", description=__doc__)
    p.add_argument("--deliveries", type=int, default=500)
    p.add_argument("--sales", type=int, default=20)
    p.add_argument("--slow-seconds", type=float, default=4.0)
    p.add_argument("--backlog", type=int, default=30)
    p.add_argument("--keep-db", action="store_true")
    a = p.parse_args(argv)
    result = run(
        deliveries=a.deliveries, sales=a.sales, slow_seconds=a.slow_seconds, backlog=a.backlog, keep_db=a.keep_db
    )
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
