"""The reconciler (beat, every ~20 s); the operator's forwarding actions are ``operator_actions``.

``reconcile_once`` catches what a lost webhook, a lost Celery message or a killed worker left behind,
from PostgreSQL alone:

0. webhook deliveries recorded and acknowledged but still ``queued`` after a grace period (their
   task was never published, or the worker died before acting) are acted on here
   (``webhooks.deliveries_sweep``: detection, then forwarding enqueued);
1. unpaid splits whose invoice may still be paid (pending, or expired within a grace window) are
   polled with ``invoice_status``; PAID runs ``payment_detected``;
2. legs in ``sending`` for longer than a forward task can live (the worker died mid-send) become
   ``unknown``: we do not know whether the send reached Blink;
3. legs in ``pending`` / ``unknown`` are settled through ``payment_lookup`` (``leg_resolve_pending``);
4. splits stuck in ``paid`` / ``processing`` with a leg due are re-enqueued.

Safe concurrently with itself: each batch is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a
short lease written into ``next_attempt_at`` in the same statement's transaction, so two reconcilers
take disjoint rows; the provider is called after that commit, never inside a transaction. Everything
it triggers is idempotent anyway (PostgreSQL decides each transition under the row lock).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus
from payments.services.detection import payment_check
from payments.services.enqueue import enqueue_forward
from payments.services.forwarding import (
    leg_fail_locked,
    leg_succeed_locked,
    rearm_locked,
    settle_locked,
)
from payments.services.transitions import lock_legs, lock_split, transition_leg
from payments.services.webhooks import deliveries_sweep
from payments.wallet.errors import InvoiceNotFound, WalletError
from payments.wallet.provider import get_wallet_provider
from payments.wallet.types import InvoiceState, SendResult, SendStatus

log = get_logger(__name__)

L, S = LegStatus, SplitStatus
# Longer than forward_split_task's hard time limit (120 s): a worker still inside pay_invoice would
# have been killed by then, so a leg still in ``sending`` has no live sender.
SENDING_STALE_SECONDS = 180
# A queued webhook delivery is normally acted on within milliseconds; one still queued after a minute
# lost its message (or sits behind a burst's backlog: acting on it here then is harmless, the task
# finds it final). A minute rather than seconds, so the sweep does not race a healthy backlog.
DELIVERY_GRACE_SECONDS = 60


def reconcile_once(
    *,
    batch_size: int = 100,
    lease_seconds: int = 10,
    stale_seconds: int = 30,
    sending_stale_seconds: int = SENDING_STALE_SECONDS,
    late_grace_seconds: int = 600,
    delivery_grace_seconds: int = DELIVERY_GRACE_SECONDS,
) -> dict[str, int]:
    """One reconciliation pass; returns counts. The keyword knobs exist for tests and operators."""
    counts: Counter[str] = Counter()
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds)

    # First, so the splits it marks paid are not polled at the provider below.
    swept = deliveries_sweep(older_than=now - timedelta(seconds=delivery_grace_seconds), batch_size=batch_size)
    counts.update({name: n for name, n in swept.items() if n})

    for split_id in _claim_unpaid(now, lease, batch_size, late_grace_seconds):
        split = PaymentSplit.objects.get(pk=split_id)
        try:
            outcome = payment_check(split=split, source="reconciler")
        except InvoiceNotFound:
            log.error("reconcile.invoice_not_found", split_id=split_id, payment_hash=split.payment_hash)
            counts["errors"] += 1
            continue
        except WalletError as exc:
            log.warning("reconcile.poll_failed", split_id=split_id, error_code=exc.code)
            counts["errors"] += 1
            continue
        counts["polled"] += 1
        if outcome in ("paid", "paid_late"):
            counts["detected"] += 1

    counts["abandoned_sends"] = _abandon_stale_sends(now - timedelta(seconds=sending_stale_seconds), batch_size)

    for leg_id in _claim_unsettled_legs(now, lease, batch_size):
        try:
            outcome = leg_resolve_pending(leg_id=leg_id)
        except WalletError as exc:
            log.warning("reconcile.lookup_failed", leg_id=leg_id, error_code=exc.code)
            counts["errors"] += 1
            continue
        counts["legs_checked"] += 1
        counts[f"legs_{outcome}"] += 1

    for split_id in _claim_stuck(now, lease, now - timedelta(seconds=stale_seconds), batch_size):
        counts["forwards_enqueued" if enqueue_forward(split_id) else "enqueue_failed"] += 1

    result = dict(counts)
    log.info("reconcile.done", **result)
    return result


def _claim_ids(qs: object, model: type[PaymentSplit] | type[PaymentLeg], lease: datetime, batch_size: int) -> list[int]:
    with transaction.atomic():
        ids = list(qs.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:batch_size])  # type: ignore[attr-defined]
        if ids:
            model.objects.filter(pk__in=ids).update(next_attempt_at=lease)  # .update(): updated_at untouched
    return ids


def _due(now: datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def _claim_unpaid(now: datetime, lease: datetime, batch_size: int, grace_seconds: int) -> list[int]:
    # A payment can land right at expiry; polling expired splits for a while catches a late one
    # whose webhook was lost.
    recent = now - timedelta(seconds=grace_seconds)
    qs = (
        PaymentSplit.objects.filter(Q(status=S.PENDING) | Q(status=S.EXPIRED, expires_at__gt=recent))
        .filter(_due(now))
        .order_by("expires_at")
    )
    return _claim_ids(qs, PaymentSplit, lease, batch_size)


def _abandon_stale_sends(cutoff: datetime, batch_size: int) -> int:
    ids = list(
        PaymentLeg.objects.filter(status=L.SENDING, sent_at__lte=cutoff).values_list("pk", "split_id")[:batch_size]
    )
    moved = 0
    for leg_id, split_id in ids:
        with transaction.atomic():
            split = lock_split(split_id=split_id)
            assert split is not None
            leg = next(x for x in lock_legs(split) if x.pk == leg_id)
            if leg.status != L.SENDING or leg.sent_at is None or leg.sent_at > cutoff:
                continue
            transition_leg(
                leg,
                L.UNKNOWN,
                event_type="leg_unknown",
                data={"attempt": leg.attempts, "reason": "sender_gone"},
                last_error_code="SENDER_GONE",
                next_attempt_at=None,
            )
            moved += 1
    return moved


def _claim_unsettled_legs(now: datetime, lease: datetime, batch_size: int) -> list[int]:
    qs = PaymentLeg.objects.filter(status__in=[L.PENDING, L.UNKNOWN]).filter(_due(now)).order_by("updated_at")
    return _claim_ids(qs, PaymentLeg, lease, batch_size)


def _claim_stuck(now: datetime, lease: datetime, stale: datetime, batch_size: int) -> list[int]:
    legs = PaymentLeg.objects.filter(split=OuterRef("pk"))
    due_leg = legs.filter(updated_at__lte=stale).filter(
        Q(status__in=[L.PLANNED, L.INVOICE_READY]) | Q(status=L.FAILED, next_attempt_at__lte=now)
    )
    stuck_leg = legs.filter(updated_at__lte=stale, status=L.FAILED, next_attempt_at__isnull=True)
    in_flight = legs.filter(status__in=[L.SENDING, L.PENDING, L.UNKNOWN])
    qs = (
        PaymentSplit.objects.filter(
            (Q(status=S.PAID) & (Q(paid_at__lte=stale) | Q(paid_at__isnull=True)))
            | (Q(status=S.PROCESSING) & (Exists(due_leg) | (Exists(stuck_leg) & ~Exists(in_flight))))
        )
        .filter(_due(now))
        .order_by("paid_at")
    )
    return _claim_ids(qs, PaymentSplit, lease, batch_size)


def leg_resolve_pending(*, leg_id: int) -> str:
    """Settle a ``pending`` / ``unknown`` leg by asking Blink what happened to its payout hash.

    SUCCEEDED -> succeeded (completing the split if last). FAILED (including a refunded send) ->
    failed, retried after a backoff. PENDING -> pending. UNKNOWN means Blink's ledger holds no send
    from the platform wallet for that hash; then, and only if the payout invoice itself is still
    unpaid, the leg goes failed -> invoice_ready to pay the SAME bolt11 again. That is safe even if
    our first send is still on its way to Blink: Blink settles an invoice once and answers the other
    attempt ALREADY_PAID (or "pending payment"), so there is never a second debit. An expired payout
    invoice can never be paid, so the leg goes back to ``planned`` for a new one. An invoice that is
    PAID with no send of ours is left ``unknown`` and logged: someone has to look.

    Raises ``WalletError`` when the provider cannot answer (the leg stays as it is).
    """
    leg = PaymentLeg.objects.filter(pk=leg_id).first()
    if leg is None or leg.status not in (L.PENDING, L.UNKNOWN):
        return "skipped"
    if not leg.payment_hash:
        return "no_hash"
    seen_status, seen_attempts = leg.status, leg.attempts
    provider = get_wallet_provider()
    lookup = provider.payment_lookup(payment_hash=leg.payment_hash)
    invoice_state: InvoiceState | None = None
    if lookup.status is SendStatus.UNKNOWN:
        try:
            invoice_state = provider.invoice_status(payment_hash=leg.payment_hash).state
        except InvoiceNotFound:
            invoice_state = None
    requeue = False
    with transaction.atomic():
        split = lock_split(split_id=leg.split_id)
        assert split is not None
        legs = lock_legs(split)
        leg = next(x for x in legs if x.pk == leg_id)
        if leg.status != seen_status or leg.attempts != seen_attempts:
            return "changed"
        if lookup.status is SendStatus.SUCCEEDED:
            result = SendResult(status=SendStatus.SUCCEEDED, fee_sats=lookup.fee_sats, preimage=lookup.preimage)
            leg_succeed_locked(split, legs, leg, result=result, source="lookup")
            outcome = "succeeded"
        elif lookup.status is SendStatus.FAILED:
            leg_fail_locked(leg, code="PAYMENT_FAILED", message="Blink reports the send failed or was refunded.")
            settle_locked(split, legs)
            outcome = "failed"
        elif lookup.status is SendStatus.PENDING:
            if leg.status == L.UNKNOWN:
                transition_leg(leg, L.PENDING, event_type="leg_pending", data={"source": "lookup"})
            outcome = "pending"
        elif invoice_state in (InvoiceState.PENDING, InvoiceState.EXPIRED):
            transition_leg(
                leg,
                L.FAILED,
                event_type="leg_failed",
                data={"error_code": "NOT_SENT", "invoice": invoice_state.value},
                last_error_code="NOT_SENT",
                last_error="Blink has no send for this invoice and the invoice is unpaid.",
                next_attempt_at=timezone.now(),
            )
            rearm_locked(leg, reason="not_sent")
            requeue = split.status == S.PROCESSING
            outcome = "requeued"
        else:
            log.error(
                "reconcile.leg_unexplained", leg_id=leg_id, payout_hash=leg.payment_hash, invoice=str(invoice_state)
            )
            outcome = "unresolved"
        if requeue:
            transaction.on_commit(lambda: enqueue_forward(split.pk))
    return outcome
