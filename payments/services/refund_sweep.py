"""The refunds sweep (beat, every 30 s; docs/ARCHITECTURE.md, Periodic jobs): catches what the webhook
and the payout task missed.

- Awaiting funding: ask Blink about the funding invoice (PAID funds the refund; EXPIRED expires it,
  with nothing paid).
- Paying, ``invoice_ready`` for a while: the send task was lost; send (the payout is claimed by state).
- Paying, ``pending`` / ``unknown`` and due, or ``sending`` for longer than a send can take (its worker
  died): a lookup at Blink settles it (``refund_payout_lookup``).

- Pool payouts (payments/services/pool_payouts.py): planned or invoice_ready and due (a lost task, or
  a retry's backoff over), in flight and due, or sending for too long: the same steps.

Bounded batches; every step is safe to run twice or concurrently with the tasks.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from payments.models import PayoutState, PoolPayout, PoolPayoutStatus, Refund, RefundStatus
from payments.services.pool_payouts import pool_payout_lookup, pool_payout_run
from payments.services.refund_payouts import refund_pay, refund_payout_lookup
from payments.services.refunds import refund_funding_check, refunds_awaiting_funding
from payments.wallet.errors import WalletUnavailable

LOST_TASK_AFTER = timedelta(seconds=60)
# Longer than refund_pay_task's hard time limit (120 s): a send still running is never looked up as lost.
SENDING_STALE_AFTER = timedelta(seconds=180)
FUNDING_RECHECK = timedelta(seconds=30)


def refunds_sweep(*, batch_size: int = 50) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    now = timezone.now()
    for refund_id in refunds_awaiting_funding(batch_size=batch_size):
        outcome = refund_funding_check(refund_id=refund_id)
        outcomes[f"funding_{outcome}"] += 1
        if outcome in ("pending", "lookup_failed"):
            Refund.objects.filter(pk=refund_id).update(next_attempt_at=now + FUNDING_RECHECK)
    paying = Refund.objects.filter(status=RefundStatus.PAYING)
    lost = paying.filter(payout_state=PayoutState.INVOICE_READY, updated_at__lte=now - LOST_TASK_AFTER)
    for refund_id in lost.values_list("pk", flat=True)[:batch_size]:
        outcomes[f"send_{refund_pay(refund_id=refund_id)}"] += 1
    in_flight = paying.filter(
        Q(payout_state__in=(PayoutState.PENDING, PayoutState.UNKNOWN))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        | Q(payout_state=PayoutState.SENDING, updated_at__lte=now - SENDING_STALE_AFTER)
    )
    for refund_id in in_flight.values_list("pk", flat=True)[:batch_size]:
        outcomes[f"lookup_{refund_payout_lookup(refund_id=refund_id)}"] += 1
    outcomes.update(pool_payouts_sweep(now=now, batch_size=batch_size))
    return outcomes


def pool_payouts_sweep(*, now: datetime, batch_size: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    stale = Q(updated_at__lte=now - LOST_TASK_AFTER)
    retry_due = Q(next_attempt_at__isnull=False, next_attempt_at__lte=now)
    # A fresh planned payout belongs to its task (enqueued after the close's commit) until it looks lost.
    runnable = PoolPayout.objects.filter(
        Q(status=PoolPayoutStatus.PLANNED) & (retry_due | (stale & Q(next_attempt_at__isnull=True)))
        | Q(status=PoolPayoutStatus.INVOICE_READY) & stale
    )
    for payout_id in runnable.values_list("pk", flat=True)[:batch_size]:
        try:
            outcomes[f"pool_{pool_payout_run(payout_id=payout_id)}"] += 1
        except WalletUnavailable:  # nothing committed; the next sweep tries again
            outcomes["pool_provider_unavailable"] += 1
    in_flight = PoolPayout.objects.filter(
        Q(status__in=(PoolPayoutStatus.PENDING, PoolPayoutStatus.UNKNOWN)) & due
        | Q(status=PoolPayoutStatus.SENDING, updated_at__lte=now - SENDING_STALE_AFTER)
    )
    for payout_id in in_flight.values_list("pk", flat=True)[:batch_size]:
        outcomes[f"pool_lookup_{pool_payout_lookup(payout_id=payout_id)}"] += 1
    return outcomes
