"""``python -m chaos``: the soak, start to finish.

1. start the stack (own PostgreSQL and Redis, fake Blink, the uvicorn web tier, two workers, beat) and parties;
2. push N tipped sales, with tip-only payments to pay codes beside them (~5%), then refund a few of
   the completed sales (~3%: partial and full, some with the tip), all while the fault driver injects
   faults (sales bounded by --duration, each refund by --refund-timeout);
3. stop the faults, let the reconciler run until nothing is in flight (bounded by --settle-timeout);
4. check the money invariants and scan logs / Redis / Celery messages for secrets;
5. print the figures, write ``artifacts/chaos/chaos-<seed>-<time>.json``, stop every process by PID.

Exit status 0 only when every invariant holds and the scan is clean.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from chaos.faults import ALL_FAULTS, FaultDriver
from chaos.mix import REFUND_SHARE, TIP_SHARE, MixDriver
from chaos.sales import SalesDriver
from chaos.secrets_scan import SecretScanner
from chaos.stack import ROOT, ChaosStack

DEFAULT_SALES = 2000
LONG_RUN_SALES = 20_000


def _log(message: str) -> None:
    print(f"[chaos] {message}", flush=True)


class RedisSampler:
    """Copies what passes through Redis (Celery messages live there for milliseconds) every ``every``
    seconds, so the secret scan sees more than the final state. Values stay in memory only."""

    def __init__(self, stack: ChaosStack, every: float = 2.0) -> None:
        self.stack, self.every = stack, every
        self.samples: dict[tuple[str, str], str] = {}
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="redis-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                client = self.stack.redis.client()
                for raw in client.scan_iter(count=1000):
                    key = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
                    kind_raw: Any = client.type(raw)
                    kind = kind_raw.decode() if isinstance(kind_raw, bytes) else str(kind_raw)
                    if kind == "string":
                        values = [client.get(raw) or b""]
                    elif kind == "list":
                        values = client.lrange(raw, 0, -1)
                    elif kind == "hash":
                        values = list(client.hvals(raw))
                    else:
                        continue
                    for value in values:
                        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                        self.samples.setdefault((key, text[:200]), text)
                self.rounds += 1
            except (redis.RedisError, OSError):
                continue  # Redis is being restarted or paused by the fault driver


def settle(stack: ChaosStack, timeout: float) -> dict[str, Any]:
    """Reconciler passes until nothing is in flight twice in a row (beat keeps running meanwhile)."""
    started = time.monotonic()
    passes = 0
    state: dict[str, Any] = {}
    quiet = 0
    while time.monotonic() - started < timeout:
        stack.supervise()
        state = stack.djtool("reconcile", "--times", "1")["state"]
        passes += 1
        quiet = quiet + 1 if state["in_flight"] == 0 else 0
        if quiet >= 2:
            break
        time.sleep(1.0)
    # Three more healthy passes, as the forwarding issue's invariants demand.
    stack.djtool("reconcile", "--times", "3")
    time.sleep(2.0)
    state = stack.djtool("state")
    return {"seconds": round(time.monotonic() - started, 1), "reconcile_passes": passes + 3, "final": state}


def secret_scan(stack: ChaosStack, sampler: RedisSampler, merchants: list[dict[str, Any]]) -> dict[str, Any]:
    preimages = stack.djtool("preimages")["preimages"]
    known = {
        "terminal_api_key": [m["key"] for m in merchants],
        "platform_api_key": [stack.secrets["BLINK_API_KEY"]],
        "fernet_key": [stack.secrets["FIELD_ENCRYPTION_KEYS"]],
        "webhook_secret": [stack.secrets["BLINK_WEBHOOK_SECRET"], stack.secrets["BLINK_WEBHOOK_SECRET"][6:]],
        "django_secret_key": [stack.secrets["SECRET_KEY"]],
    }
    scanner = SecretScanner(known=known, preimages=preimages)
    logs = sorted((stack.run_dir / "logs").glob("*.log"))
    # The fake's own log is the provider's side (it may print its invoices); BlinkPOS's logs are the subject.
    scanner.scan_logs([p for p in logs if p.name != "fake-blink.log"])
    scanner.scan_logs([stack.pg.pgdata / "server.log"])
    scanner.scan_redis(stack.redis.client())
    for (key, _), text in sampler.samples.items():
        scanner.scan_text("redis_value", text, key[:80])
        scanner._maybe_celery(text, key)
    result = scanner.result.as_dict()
    result["redis_sample_rounds"] = sampler.rounds
    result["preimages_known"] = len(preimages)
    result["log_files"] = [p.name for p in logs]
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=DEFAULT_SALES, help=f"tipped sales (long run: {LONG_RUN_SALES})")
    parser.add_argument("--seed", type=int, default=1, help="seeds the sales plan and the fault schedule")
    parser.add_argument("--duration", type=float, default=900.0, help="max seconds for the sales+faults phase")
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=None,
        help="max seconds to drain after faults (default: 240, or 0.4 s per sale when that is longer)",
    )
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help="comma-separated fault kinds")
    parser.add_argument("--fault-interval", default="1.5,5.0", help="min,max seconds between faults")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent sales")
    parser.add_argument("--merchants", type=int, default=2)
    parser.add_argument("--staff", type=int, default=3, help="staff per merchant (tip recipients)")
    parser.add_argument("--tip-share", type=float, default=TIP_SHARE, help="tip-only payments per sale")
    parser.add_argument("--refund-share", type=float, default=REFUND_SHARE, help="refunds per sale")
    parser.add_argument("--refund-timeout", type=float, default=60.0, help="max seconds per refund step")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "chaos"), help="report folder")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = Path(args.out) / f"run-{args.seed}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    low, high = (float(x) for x in args.fault_interval.split(","))
    stack = ChaosStack(run_dir=run_dir, seed=args.seed)
    report: dict[str, Any] = {"seed": args.seed, "sales_requested": args.sales, "faults_enabled": list(kinds)}
    started = time.monotonic()
    try:
        stack.start()
        setup = stack.djtool("setup", "--fake-url", stack.fake_url, "--merchants", str(args.merchants),
                             "--staff", str(args.staff), "--tag", f"s{args.seed}",
                             "--outside-host", stack.outside_lnurl_host)  # fmt: skip
        parties = setup["merchants"]
        _log(f"stack up: web {stack.base_url}, fake {stack.fake_url}; {args.sales} sales, seed {args.seed}")
        sampler = RedisSampler(stack)
        sampler.start()
        faults = FaultDriver(stack, seed=args.seed, kinds=kinds, interval=(low, high))
        sales = SalesDriver(base_url=stack.base_url, fake_url=stack.fake_url, merchants=parties,
                            seed=args.seed, concurrency=args.concurrency)  # fmt: skip
        mix = MixDriver(base_url=stack.base_url, fake_url=stack.fake_url, merchants=parties,
                        customer_wallet_id=setup["customer_wallet_id"], seed=args.seed)  # fmt: skip
        tips_wanted = round(args.sales * args.tip_share)
        refunds_wanted = round(args.sales * args.refund_share)
        budget = threading.Event()
        timer = threading.Timer(args.duration, budget.set)
        timer.daemon = True
        timer.start()
        faults.start()
        t0 = time.monotonic()
        tips = threading.Thread(target=mix.tip_payments, args=(tips_wanted,), kwargs={"stop": budget}, daemon=True)
        tips.start()
        stats = sales.run(args.sales, stop=budget)
        tips.join()
        sales_seconds = time.monotonic() - t0
        # Refunds need completed sales; they run while the faults still do (bounded per refund).
        mix.refunds(stats.results, sales.plan_used, refunds_wanted, timeout=args.refund_timeout)
        _log(f"mix done: {json.dumps(mix.stats.summary())}")
        # Sales can finish before the driver's shuffled rounds reach every kind; a soak that claims a
        # fault must have injected it, so keep injecting (within the time budget) until each has fired.
        faults.wait_until_each_fired(stop=budget)
        timer.cancel()
        faults.stop()
        _log(f"sales done in {sales_seconds:.0f}s: {stats.summary()}; faults: {dict(faults.log.counts)}")
        # Draining takes longer the more sales are queued: a fixed budget would report a backlog as stuck.
        settle_timeout = args.settle_timeout if args.settle_timeout is not None else max(240.0, 0.4 * args.sales)
        settled = settle(stack, settle_timeout)
        _log(f"settled in {settled['seconds']}s: {settled['final']}")
        invariants = stack.djtool("invariants", "--fake-url", stack.fake_url)
        sampler.stop()
        scan = secret_scan(stack, sampler, parties)
        report.update(
            sales={**stats.summary(), "seconds": round(sales_seconds, 1)},
            **mix.stats.summary(),
            faults={
                "counts": dict(faults.log.counts),
                "errors": faults.log.errors,
                "events": faults.log.events,
                "webhook_redeliveries": faults.redelivered,
                "pg_restarts": stack.pg.restarts,
                "redis_restarts": stack.redis.restarts,
                "process_restarts": stack.restarts,
            },
            crashes=stack.crashes,
            settle=settled,
            invariants={k: v for k, v in invariants.items() if k != "lines"},
            secret_scan=scan,
        )
        report["ok"] = bool(invariants["ok"]) and bool(scan["ok"])
        print("\nMoney invariants:")
        print("\n".join(invariants["lines"]))
        print(f"Secret scan: {'PASS' if scan['ok'] else 'FAIL'} {json.dumps(scan['scanned'])} "
              f"celery messages seen={scan['celery_messages_seen']} findings={scan['findings']}")  # fmt: skip
    except Exception as exc:
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        report["seconds"] = round(time.monotonic() - started, 1)
        stack.stop()
        path = Path(args.out) / f"chaos-{args.seed}-{stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str))
        _log(f"report: {path}")
    return report


def main(argv: list[str] | None = None) -> int:
    report = run(parse_args(argv))
    print(f"\nCHAOS {'PASS' if report.get('ok') else 'FAIL'} (seed {report['seed']}, {report['seconds']}s)")
    return 0 if report.get("ok") else 1
