"""PostgreSQL restarts while forwards are in flight (part of the suite, not only ``make chaos``).

The real stack on its own PostgreSQL and Redis (``chaos.stack.ChaosStack``): tipped sales are paid,
Blink is made slow to answer sends so that legs sit committed as ``sending``, and PostgreSQL is
restarted in immediate mode (no checkpoint, every connection cut) at that moment. After the reconciler
has drained: every sale completed exactly once, no leg paid twice, Blink's ledger and ours agree to the
sat, and nothing is left in flight."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest

from chaos.run import settle
from chaos.sales import SalesDriver
from chaos.stack import ChaosStack

pytestmark = pytest.mark.slow

SALES = 12


def _legs_sending(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM payment_legs WHERE status = 'sending'").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(420)
def test_a_postgres_restart_in_the_middle_of_forwards_loses_nothing_and_pays_nothing_twice(tmp_path: Path) -> None:
    stack = ChaosStack(run_dir=tmp_path, seed=5)
    try:
        # given: the stack, one merchant with a three-person team, and sends that take 0.8 s each at Blink
        stack.start()
        merchants = stack.djtool("setup", "--fake-url", stack.fake_url, "--merchants", "1", "--staff", "3",
                                 "--tag", "pgr")["merchants"]  # fmt: skip
        httpx.post(
            f"{stack.fake_url}/control/latency", json={"operation": "lnInvoicePaymentSend", "seconds": 0.8}, timeout=10
        ).raise_for_status()

        # when: the sales are paid and, with legs committed as sending, PostgreSQL restarts
        sales = SalesDriver(base_url=stack.base_url, fake_url=stack.fake_url, merchants=merchants, seed=5,
                            concurrency=4).run(SALES)  # fmt: skip
        deadline = time.monotonic() + 60
        sending = 0
        while time.monotonic() < deadline and not (sending := _legs_sending(stack.pg.url)):
            time.sleep(0.05)
        stack.pg.restart_immediate(down_seconds=1.5)
        httpx.post(
            f"{stack.fake_url}/control/latency", json={"operation": "lnInvoicePaymentSend", "seconds": 0}, timeout=10
        ).raise_for_status()
        settled = settle(stack, 180)
        report = stack.djtool("invariants", "--fake-url", stack.fake_url)
    finally:
        stack.stop()

    # then: the restart really hit forwards in flight
    assert sending > 0
    summary = sales.summary()
    assert summary["created"] == summary["paid_by_customer"] == SALES
    # and every money invariant holds after the drain
    invariants = {i["name"]: i for i in report["invariants"]}
    failed = {name: (i["detail"], i["examples"]) for name, i in invariants.items() if not i["ok"]}
    assert not failed, report["lines"]
    assert invariants["paid_splits_completed_exactly_once"]["detail"] == {"completed": SALES}
    assert settled["final"]["in_flight"] == 0
