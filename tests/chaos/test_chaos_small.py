"""The small chaos soak inside the test suite: the real stack (own PostgreSQL and Redis, fake Blink,
the uvicorn web tier, two Celery workers, beat), a few hundred tipped sales with tip-only payments to pay codes
beside them and refunds of a few completed sales (partial and full, some with the tip), two fault kinds
stacked (worker SIGKILL and out-of-order, repeated webhook redelivery), then the money invariants and
the secret scan. Bounded to a few minutes; ``make chaos`` is the full version."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.run import parse_args, run

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)
def test_small_soak_keeps_every_money_invariant(tmp_path: Path) -> None:
    args = parse_args(
        [
            "--sales", "240", "--seed", "7", "--concurrency", "8", "--duration", "120", "--settle-timeout", "90",
            "--faults", "worker_sigkill,webhook_redeliver", "--fault-interval", "2,5", "--out", str(tmp_path),
            "--tip-share", "0.05", "--refund-share", "0.03", "--refund-timeout", "45",
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
        "refunds_within_sales",
    }
    # every sale was made and paid, and every one of them completed (no fault here makes a leg fail)
    assert report["sales"]["created"] == report["sales"]["paid_by_customer"] == 240
    # tip-only payments happened beside the sales (12 planned: 5%), each paid and completed as a split
    tips = report["tip_payments"]
    assert tips["attempted"] == 12 and tips["paid"] > 0
    assert invariants["paid_splits_completed_exactly_once"]["detail"] == {"completed": 240 + tips["paid"]}
    ledger = invariants["ledgers_reconcile_to_the_sat"]["detail"]
    assert ledger["tip_only_splits"] == tips["paid"] and ledger["unknown_platform_txs"] == 0
    # refunds of completed sales (7 planned: 3%, partial and full, with and without the tip) were funded,
    # claimed and paid while the faults ran; every funded and paid-out sat is in both ledgers
    refunds = report["refunds"]
    assert refunds["attempted"] == 7 and refunds["created"] > 0 and refunds["claimed"] > 0
    kinds = set(refunds["kinds"])
    assert {k for k in kinds if k.startswith("full")} and {k for k in kinds if k.startswith("partial")}
    assert {k for k in kinds if k.endswith("+tip")} and {k for k in kinds if not k.endswith("+tip")}
    assert invariants["refunds_within_sales"]["checked"] == refunds["created"]
    assert invariants["refunds_within_sales"]["detail"].get("paid", 0) > 0
    assert ledger["refund_funding_fake"] == ledger["refund_funding_pos"] > 0
    assert ledger["refund_payouts_fake"] == ledger["refund_payouts_pos"] > 0
    # the faults really happened
    assert report["faults"]["counts"].get("worker_sigkill", 0) >= 1
    assert report["faults"]["webhook_redeliveries"] >= 1
    assert not report["crashes"]
    # nothing secret in the logs, Redis or the Celery messages it saw
    scan = report["secret_scan"]
    assert scan["ok"], scan["findings"]
    assert scan["scanned"]["log"] > 0 and scan["celery_messages_seen"] > 0
    assert report["ok"]
