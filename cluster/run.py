"""``python -m cluster`` (``make cluster``): the multi-node shape of docs/SCALING.md, rehearsed on one
machine, loopback only, bounded, every process stopped by PID at the end.

Started: a PostgreSQL primary and a streaming replica, Redis with a replica and three Sentinels, the
fake Blink, two web nodes (uvicorn), forwarding workers on two "hosts" (separate process groups,
each with its own settings: ``CLUSTER_HOST``), the webhook and maintenance workers, and beat; the
app finds everything through the environment alone (``DATABASE_REPLICA_URLS``, ``REDIS_SENTINELS``).

Measured, each phase bounded:
1. sales per second through one web node, then through both;
2. payments forwarded per second with one worker host, then with two (a paid backlog each time);
3. under load: the Redis master fails over (the recovery time as a polling terminal sees it) and
   one worker host is killed; every sale must still be created and paid (the POS retries with its
   Idempotency-Key), and every payment forwarded;
4. the chaos invariants (every sat accounted for, nothing stuck), the replica's lag during the run,
   and that the dashboard's reports were read from the replica.

Exit status 0 only when the invariants hold, no sale was lost, the failover recovered and the
replica served the reports. The JSON report goes to ``artifacts/cluster/``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from blinkpos.celery_queues import FORWARDING, MAINTENANCE, WEBHOOKS_IN, WEBHOOKS_OUT
from blinkpos.processes import free_port
from blinkpos.stack import Stack
from chaos.sales import SalesDriver, SalesStats
from chaos.stack import ROOT, run_djtool, soak_secrets
from cluster.services import SENTINEL_MASTER, ReplicatedPostgres, SentinelRedis

MONEY_QUEUES = (FORWARDING, WEBHOOKS_IN)
DASHBOARD_PASSWORD = "cluster-rehearsal-password"  # noqa: S105 - a throwaway user of a throwaway database


def _log(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


class Cluster:
    def __init__(self, run_dir: Path, seed: int) -> None:
        self.run_dir, self.seed = run_dir, seed
        self.pg = ReplicatedPostgres()
        self.redis = SentinelRedis()
        self.secrets = soak_secrets()
        self.stack: Stack | None = None
        self.web_urls: list[str] = []
        self.merchants: list[dict[str, Any]] = []

    @property
    def launcher(self) -> Stack:
        if self.stack is None:
            raise RuntimeError("cluster not started")
        return self.stack

    def djtool(self, *args: str) -> dict[str, Any]:
        return run_djtool(self.launcher.env, self.run_dir / "logs", *args)

    def start(self) -> None:
        self.pg.start()
        self.redis.start()
        _log(f"PostgreSQL primary :{self.pg.primary.port} + replica {self.pg.replica_url}")
        redis_ports = f"master :{self.redis.master_port}, replica :{self.redis.replica_port}"
        _log(f"Redis {redis_ports}, Sentinels {self.redis.sentinels_setting}")
        web_port = free_port(18300)
        self.stack = Stack(
            web_port=web_port,
            fake_port=free_port(web_port + 2),
            settings_module="chaos.settings",
            extra_env={
                **self.secrets,
                "DATABASE_URL": self.pg.primary.url,
                "DATABASE_REPLICA_URLS": self.pg.replica_url,
                "REPLICA_LAG_CHECK_SECONDS": "2",
                "REDIS_URL": "redis://sentinel-managed/0",  # only the database number is used
                "REDIS_SENTINELS": self.redis.sentinels_setting,
                "REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
                "DEBUG": "false",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "json",
                "BLINK_INVOICE_RATE_POINTS": "100000000",  # the fake's limits are off: no per-account count either
                "API_RATE_LIMITS_JSON": json.dumps({"terminal": "1000000/min", "merchant": "1000000/min"}),
                "FORWARD_RETRY_BASE_SECONDS": "2",
                "PG_POOL_MIN": "1",
                "PG_POOL_MAX": "4",
            },
            autopay_seconds=None,
            fake_demo=False,
            fake_seed=self.seed,
            fake_limits=False,
            web_workers=2,
            workers={},  # started below, per host
            log_dir=self.run_dir / "logs",
        )
        self.launcher.start()
        second = free_port(web_port + 4)
        self.launcher.start_web(name="web-2", port=second)
        self.web_urls = [self.launcher.base_url, f"{self.launcher.base_url.rsplit(':', 1)[0]}:{second}"]
        self.start_host("a")
        self.start_host("b")
        self.launcher.start_worker("a-webhooks", queues=(WEBHOOKS_OUT,), concurrency=1, env=self._host_env("a"))
        self.launcher.start_worker("a-maintenance", queues=(MAINTENANCE,), concurrency=1, env=self._host_env("a"))
        self.merchants = self.djtool("setup", "--fake-url", self.launcher.fake_url, "--merchants", "2",
                                     "--staff", "3", "--tag", f"k{self.seed}",
                                     "--outside-host", self.launcher.outside_lnurl_host)["merchants"]  # fmt: skip

    def _host_env(self, host: str) -> dict[str, str]:
        return {**self.launcher.env, "CLUSTER_HOST": host}

    def start_host(self, host: str) -> None:
        self.launcher.start_worker(f"{host}-money", queues=MONEY_QUEUES, concurrency=2, env=self._host_env(host))

    def stop_host(self, host: str) -> None:
        self.launcher.stop_process(f"{host}-money")

    def state(self) -> dict[str, Any]:
        return self.djtool("state")

    def completed(self) -> int:
        return int(self.state()["splits"].get("completed", 0))

    def sell(self, count: int, urls: list[str], *, concurrency: int = 6) -> tuple[SalesStats, float]:
        """``count`` sales spread over ``urls`` (one driver per node, in parallel); stats and seconds."""
        drivers = [
            SalesDriver(
                base_url=url,
                fake_url=self.launcher.fake_url,
                merchants=self.merchants,
                seed=self.seed * 100 + i,
                concurrency=concurrency,
            )
            for i, url in enumerate(urls)
        ]
        shares = [count // len(urls) + (1 if i < count % len(urls) else 0) for i in range(len(urls))]
        results: list[SalesStats] = []
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda d=d, n=n: results.append(d.run(n)))
            for d, n in zip(drivers, shares, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
        merged = SalesStats()
        for stats in results:
            merged.results.extend(stats.results)
            merged.statuses.update(stats.statuses)
        return merged, seconds

    def wait_completed(self, target: int, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.completed() >= target:
                return time.monotonic() - started
            time.sleep(1.0)
        raise TimeoutError(f"{target} completed payments not reached within {timeout:.0f} s")

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.redis.stop()
        self.pg.stop()


class LagSampler(threading.Thread):
    def __init__(self, pg: ReplicatedPostgres) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self.pg, self.samples, self.stopped = pg, list[float](), threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            try:
                self.samples.append(self.pg.replica_lag_seconds())
            except Exception as exc:
                _log(f"lag sample lost: {type(exc).__name__}")

    def summary(self) -> dict[str, Any]:
        finite = [s for s in self.samples if s != float("inf")]
        return {
            "samples": len(self.samples),
            "p50_seconds": round(statistics.median(finite), 3) if finite else None,
            "max_seconds": round(max(finite), 3) if finite else None,
            "unreachable_samples": len(self.samples) - len(finite),
        }


class Prober(threading.Thread):
    """A terminal polling one invoice's status every 100 ms: the failover as a till sees it."""

    def __init__(self, url: str, key: str, payment_hash: str) -> None:
        super().__init__(name="prober", daemon=True)
        self.url, self.key, self.payment_hash = url, key, payment_hash
        self.answers: list[tuple[float, bool]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=3.0, headers={"Authorization": f"Api-Key {self.key}"}) as client:
            while not self.stopped.wait(0.1):
                try:
                    ok = client.get(f"{self.url}/api/v1/invoices/{self.payment_hash}").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.answers.append((time.monotonic(), ok))

    def recovery_after(self, moment: float) -> dict[str, Any]:
        after = [(t, ok) for t, ok in self.answers if t >= moment]
        failed = [t for t, ok in after if not ok]
        if not failed:
            return {"failed_polls": 0, "recovered_after_seconds": 0.0}
        last_failure = max(failed)
        recovered = next((t for t, ok in after if ok and t > last_failure), None)
        return {
            "failed_polls": len(failed),
            "recovered_after_seconds": round(recovered - moment, 2) if recovered else None,
        }


def dashboard_reads_from_replica(cluster: Cluster) -> dict[str, Any]:
    """Sign a merchant in on the second web node, open the report pages, and count the scans of
    ``payment_splits`` the replica made for them."""
    owner = cluster.merchants[0]["owner"]
    code = (
        "from django.contrib.auth import get_user_model; "
        f"u = get_user_model().objects.get(username={owner!r}); u.set_password({DASHBOARD_PASSWORD!r}); u.save()"
    )
    cluster.launcher.manage("shell", "-c", code)
    time.sleep(1.0)  # the password replicates before the session is read back
    before = cluster.pg.replica_table_scans("payment_splits")
    pages = ["/transactions/", "/transactions/export.csv", "/tips/", "/report/", "/charts/"]
    statuses = {}
    with httpx.Client(base_url=cluster.web_urls[1], timeout=30, follow_redirects=True) as client:
        form = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        client.post("/login/", data={"username": owner, "password": DASHBOARD_PASSWORD,
                                     "csrfmiddlewaretoken": token.group(1) if token else ""})  # fmt: skip
        signed_in = "/login/" not in str(client.get("/transactions/").url)
        for page in pages:
            statuses[page] = client.get(page).status_code
    # An idle backend flushes its statistics within PostgreSQL's idle interval (10 s), and the web
    # nodes' pooled connections stay open.
    time.sleep(12.0)
    after = cluster.pg.replica_table_scans("payment_splits")
    return {"pages": statuses, "signed_in": signed_in, "replica_scans": after - before}


def run(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = Path(args.out) / f"run-{stamp}"
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    cluster = Cluster(run_dir, args.seed)
    report: dict[str, Any] = {"seed": args.seed, "sales_per_phase": args.sales}
    started = time.monotonic()
    lag = LagSampler(cluster.pg)
    try:
        cluster.start()
        lag.start()
        urls = cluster.web_urls
        _log(f"up: web {urls}, fake {cluster.launcher.fake_url}")

        _one, one_s = cluster.sell(args.sales, urls[:1])
        two, two_s = cluster.sell(args.sales, urls)
        report["web"] = {
            "one_node_sales_per_second": round(args.sales / one_s, 2),
            "two_nodes_sales_per_second": round(args.sales / two_s, 2),
        }
        _log(f"web: {report['web']}")
        done = cluster.wait_completed(2 * args.sales, timeout=args.phase_timeout)

        forwarding = {}
        for hosts in (("a",), ("a", "b")):
            cluster.stop_host("a")
            cluster.stop_host("b")
            base = cluster.completed()
            cluster.sell(args.sales, urls)
            for host in hosts:
                cluster.start_host(host)
            drained = cluster.wait_completed(base + args.sales, timeout=args.phase_timeout)
            forwarding[f"{len(hosts)}_host_payments_per_second"] = round(args.sales / drained, 2)
        report["forwarding"] = forwarding
        _log(f"forwarding: {forwarding}")

        # Faults under load: a Redis failover and a worker host killed while sales run on both nodes.
        probe_hash = next(r.payment_hash for r in two.results if r.payment_hash)
        prober = Prober(urls[0], cluster.merchants[0]["key"], probe_hash)
        prober.start()
        outcome: dict[str, Any] = {}
        load = threading.Thread(target=lambda: outcome.update(stats=cluster.sell(args.sales, urls)))
        base = cluster.completed()
        load.start()
        time.sleep(3.0)
        failover_at = time.monotonic()
        new_master = cluster.redis.failover()
        failover_seconds = time.monotonic() - failover_at
        time.sleep(2.0)
        killed_pid = cluster.launcher.kill("b-money")
        load.join()
        time.sleep(3.0)
        prober.stopped.set()
        stats, _ = outcome["stats"]
        summary = stats.summary()
        cluster.wait_completed(base + summary["paid_by_customer"], timeout=args.phase_timeout)
        report["faults"] = {
            "redis_failover": {
                "sentinel_seconds": round(failover_seconds, 2),
                "new_master_port": new_master,
                **prober.recovery_after(failover_at),
            },
            "worker_host_killed": {"host": "b", "pid": killed_pid},
            "sales": summary,
        }
        _log(f"faults: {report['faults']}")

        cluster.djtool("reconcile", "--times", "3")
        invariants = cluster.djtool("invariants", "--fake-url", cluster.launcher.fake_url)
        report["invariants"] = {k: v for k, v in invariants.items() if k != "lines"}
        report["replica"] = {"lag": lag.summary(), "dashboard": dashboard_reads_from_replica(cluster)}
        report["final_state"] = cluster.state()
        print("\nMoney invariants:\n" + "\n".join(invariants["lines"]))
        recovery = report["faults"]["redis_failover"]["recovered_after_seconds"]
        report["ok"] = (
            bool(invariants["ok"])
            and summary["gave_up"] == 0
            and recovery is not None
            and report["replica"]["dashboard"]["signed_in"]
            and report["replica"]["dashboard"]["replica_scans"] > 0
            and report["final_state"]["in_flight"] == 0
            and done >= 0
        )
    except Exception as exc:
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        lag.stopped.set()
        report["seconds"] = round(time.monotonic() - started, 1)
        cluster.stop()
        path = Path(args.out) / f"cluster-{stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str))
        _log(f"report: {path}")
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=40, help="sales per measured phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phase-timeout", type=float, default=300.0, help="max seconds a phase may drain")
    parser.add_argument("--out", default=str(ROOT / "artifacts" / "cluster"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    report = run(parse_args(argv))
    print(f"\nCLUSTER {'PASS' if report.get('ok') else 'FAIL'} ({report['seconds']}s)")
    print(json.dumps({k: report.get(k) for k in ("web", "forwarding", "faults", "replica")}, indent=2, default=str))
    return 0 if report.get("ok") else 1
