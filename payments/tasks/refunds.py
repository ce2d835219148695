"""Refund and pool payout tasks: the customer's payout and a shift's pool payouts (money path), and the
refunds sweep (beat), which also resumes pool payouts.

``refund_pay_task`` carries the forwarding tasks' policy: acks_late and idempotent by database state
(the payout is claimed by its state under the refund's lock), retried only on transient errors.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from payments.tasks.forwarding import _SENDS_MONEY

__all__ = ["pool_payout_task", "refund_pay_task", "refunds_sweep_task"]


@shared_task(name="payments.tasks.refunds.refund_pay_task", **_SENDS_MONEY)
def refund_pay_task(refund_id: int) -> str:
    from payments.services.refund_payouts import refund_pay

    return refund_pay(refund_id=refund_id)


@shared_task(name="payments.tasks.refunds.pool_payout_task", **_SENDS_MONEY)
def pool_payout_task(payout_id: int) -> str:
    from payments.services.pool_payouts import pool_payout_run

    return pool_payout_run(payout_id=payout_id)


# Not acks_late and no retries: beat runs it again shortly; a lost run costs nothing.
@shared_task(name="payments.tasks.refunds.refunds_sweep_task", soft_time_limit=50, time_limit=60)
def refunds_sweep_task() -> dict[str, Any]:
    from payments.services.refund_sweep import refunds_sweep

    return dict(refunds_sweep())
