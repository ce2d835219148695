"""The small chaos soak inside the test suite: the real stack (own PostgreSQL and Redis, fake Blink,
gunicorn, two Celery workers, beat), a few hundred tipped sales, two fault kinds stacked (worker
SIGKILL and out-of-order, repeated webhook redelivery), then the money invariants and the secret scan.
Bounded to about three minutes; ``make chaos`` is the full version."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.run import parse_args, run

pytestmark = pytest.mark.slow


@pytest.mark.timeout(420)
def test_small_soak_keeps_every_money_invariant(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--sales", "240", "--seed", "7", "--concurrency", "8", "--duration", "120", "--settle-timeout", "90",
            "--faults", "worker_sigkill,webhook_redeliver", "--fault-interval", "2,5", "--out", str(tmp_path),
        ]
    )  # fmt: skip

    report = run(args)

    invariants = {i["name"]: i for i in report["invariants"]["invariants"]}
    failed = {name: (i["detail"], i["examples"]) for name, i in invariants.items() if not i["ok"]}
    assert not failed
    assert set(invariants) == {
        "paid_splits_completed_exactly_once",
        "at_most_one_debit_per_leg",
        "ledgers_reconcile_to_the_sat",
        "nothing_stuck",
        "only_legal_transitions",
    }
    # every sale was made and paid, and every one of them completed (no fault here makes a leg fail)
    assert report["sales"]["created"] == report["sales"]["paid_by_customer"] == 240
    assert invariants["paid_splits_completed_exactly_once"]["detail"] == {"completed": 240}
    # the faults really happened
    assert report["faults"]["counts"].get("worker_sigkill", 0) >= 1
    assert report["faults"]["webhook_redeliveries"] >= 1
    assert not report["crashes"]
    # nothing secret in the logs, Redis or the Celery messages it saw
    scan = report["secret_scan"]
    assert scan["ok"], scan["findings"]
    assert scan["scanned"]["log"] > 0 and scan["celery_messages_seen"] > 0
    assert report["ok"]
