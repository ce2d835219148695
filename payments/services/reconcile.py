"""The reconciler (beat, every ~20 s); the operator's forwarding actions are ``operator_actions``.

``reconcile_once`` catches what a lost webhook, a lost Celery message or a killed worker left behind,
from PostgreSQL alone:

0. webhook deliveries recorded and acknowledged but still ``queued`` after a grace period (their
   task was never published, or the worker died before acting) are acted on here
   (``webhooks.deliveries_sweep``: detection, then forwarding enqueued);
1. invoices Blink could still settle are polled (``unpaid.unpaid_reconcile``); PAID runs
   ``payment_detected``;
2. legs in ``sending`` for longer than a forward task can live (the worker died mid-send) become
   ``unknown``: we do not know whether the send reached Blink;
3. legs in ``pending`` / ``unknown`` are settled through ``payment_lookup`` (``leg_resolve_pending``);
4. splits stuck in ``paid`` / ``processing`` with a leg due are re-enqueued.

Every loop here is bounded: re-sends of a payment Blink never received count against
``FORWARD_MAX_ATTEMPTS``, failed lookups against ``FORWARD_LOOKUP_MAX_FAILURES``; past either the leg
needs an operator (``leg_outcomes.needs_operator``), which fails the split for the admin's payout
queue and the ``payouts_need_operator`` alert.

A pass stops starting provider calls after ``RECONCILE_BUDGET_SECONDS`` (the unpaid poll gets half of
it, so the legs are never starved) and catches the task's soft time limit; either way the rows it
claimed and did not reach are released, and the next pass starts with them.

Safe concurrently with itself: each batch is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a
short lease (``claims``); the provider is called after that commit, never inside a transaction.
Everything it triggers is idempotent anyway (PostgreSQL decides each transition under the row lock).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus
from payments.models.parties import PayoutRouteKind
from payments.platform_accounts import provider_for_leg
from payments.services.claims import claim_ids, due, release
from payments.services.enqueue import enqueue_forward
from payments.services.leg_outcomes import (
    NOT_RETRYABLE,
    PAID_NOT_BY_US,
    backoff,
    leg_fail_locked,
    leg_succeed_locked,
    lookup_max_failures,
    max_attempts,
    rearm_locked,
    resume_if_unblocked_locked,
    settle_locked,
)
from payments.services.payout_outside import outside_invoice_state
from payments.services.transitions import lock_legs, lock_split, record_event, transition_leg
from payments.services.unpaid import unpaid_reconcile
from payments.services.webhooks import deliveries_sweep
from payments.wallet.errors import InvoiceNotFound, WalletError
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
# How often a leg that needs an operator is still looked up (it settles by itself once Blink answers).
LOOKUP_RETRY_CAP = timedelta(hours=1)


def reconcile_once(
    *,
    batch_size: int = 100,
    lease_seconds: int = 10,
    stale_seconds: int = 30,
    sending_stale_seconds: int = SENDING_STALE_SECONDS,
    delivery_grace_seconds: int = DELIVERY_GRACE_SECONDS,
    budget_seconds: float | None = None,
) -> dict[str, int]:
    """One reconciliation pass; returns counts (``interrupted`` when the soft time limit cut it short).
    The keyword knobs exist for tests and operators."""
    counts: Counter[str] = Counter()
    budget = float(settings.RECONCILE_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
    started = time.monotonic()
    try:
        _pass(
            counts,
            batch_size,
            lease_seconds,
            stale_seconds,
            sending_stale_seconds,
            delivery_grace_seconds,
            started,
            budget,
        )
    except SoftTimeLimitExceeded:
        # Claimed rows not reached were released; the next pass (beat, ~20 s) resumes with them.
        counts["interrupted"] += 1
        log.warning("reconcile.soft_time_limit", **dict(counts))
    result = dict(counts)
    log.info("reconcile.done", **result)
    return result


def _pass(
    counts: Counter[str],
    batch_size: int,
    lease_seconds: int,
    stale_seconds: int,
    sending_stale_seconds: int,
    delivery_grace_seconds: int,
    started: float,
    budget: float,
) -> None:
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds)

    # First, so the splits it marks paid are not polled at the provider below.
    swept = deliveries_sweep(older_than=now - timedelta(seconds=delivery_grace_seconds), batch_size=batch_size)
    counts.update({name: n for name, n in swept.items() if n})

    counts.update(unpaid_reconcile(now=now, lease=lease, batch_size=batch_size, deadline=started + budget / 2))

    counts["abandoned_sends"] = _abandon_stale_sends(now - timedelta(seconds=sending_stale_seconds), batch_size)

    leg_ids = _claim_unsettled_legs(now, lease, batch_size)
    left = list(leg_ids)
    try:
        while left and time.monotonic() < started + budget:
            leg_id = left.pop(0)
            outcome = leg_resolve_pending(leg_id=leg_id)
            counts["legs_checked"] += 1
            counts[f"legs_{outcome}"] += 1
    except SoftTimeLimitExceeded:
        release(PaymentLeg, left, lease)
        raise
    if deferred := release(PaymentLeg, left, lease):
        counts["legs_deferred"] += deferred

    for split_id in _claim_stuck(now, lease, now - timedelta(seconds=stale_seconds), batch_size):
        counts["forwards_enqueued" if enqueue_forward(split_id) else "enqueue_failed"] += 1


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
    qs = PaymentLeg.objects.filter(status__in=[L.PENDING, L.UNKNOWN]).filter(due(now)).order_by("updated_at")
    return claim_ids(qs, PaymentLeg, lease, batch_size)


def _claim_stuck(now: datetime, lease: datetime, stale: datetime, batch_size: int) -> list[int]:
    legs = PaymentLeg.objects.filter(split=OuterRef("pk"))
    due_leg = legs.filter(updated_at__lte=stale).filter(
        Q(status__in=[L.PLANNED, L.INVOICE_READY]) | Q(status=L.FAILED, next_attempt_at__lte=now)
    )
    # The same split as leg_outcomes.needs_operator / settle_locked: a forward pass then fails it for
    # an operator. Not while another leg still has a send, a lookup or a retry to come.
    unsettled = Q(status__in=[L.PENDING, L.UNKNOWN])
    cap = lookup_max_failures()
    blocked = Q(status=L.FAILED, next_attempt_at__isnull=True) | (
        unsettled & (Q(lookup_failures__gte=cap) | Q(last_error_code=PAID_NOT_BY_US))
    )
    progressing = (
        Q(status__in=[L.PLANNED, L.INVOICE_READY, L.SENDING])
        | Q(status=L.FAILED, next_attempt_at__isnull=False)
        | (unsettled & Q(lookup_failures__lt=cap) & ~Q(last_error_code=PAID_NOT_BY_US))
    )
    stuck_leg = legs.filter(updated_at__lte=stale).filter(blocked)
    qs = (
        PaymentSplit.objects.filter(
            (Q(status=S.PAID) & (Q(paid_at__lte=stale) | Q(paid_at__isnull=True)))
            | (Q(status=S.PROCESSING) & (Exists(due_leg) | (Exists(stuck_leg) & ~Exists(legs.filter(progressing)))))
        )
        .filter(due(now))
        .order_by("paid_at")
    )
    return claim_ids(qs, PaymentSplit, lease, batch_size)


def leg_resolve_pending(*, leg_id: int) -> str:
    """Settle a ``pending`` / ``unknown`` leg by asking Blink what happened to its payout hash.

    SUCCEEDED -> succeeded (completing the split if last). FAILED (including a refunded send) ->
    failed, retried after a backoff. PENDING -> pending. UNKNOWN means Blink's ledger holds no send
    from the platform wallet for that hash; then, if the payout invoice itself is unpaid, the send
    never arrived: the leg is failed (``NOT_SENT``) and re-armed to pay the SAME bolt11 again (a new
    invoice only when Blink says the old one EXPIRED). That is safe even if our first send is still on
    its way to Blink: Blink settles an invoice once and answers the other attempt ALREADY_PAID (or
    "already paid"), so there is never a second debit. The first re-send is immediate (a request lost
    on its way is the usual cause), later ones back off, and after ``FORWARD_MAX_ATTEMPTS`` sends, or
    when the send was refused for good (our key lacks WRITE: ``NOT_AUTHORIZED``), the leg needs an
    operator. An invoice that is PAID with no send of ours was paid by someone else: never re-sent,
    for an operator (``PAID_NOT_BY_US``).

    A lookup Blink cannot answer leaves the leg as it is, counts a failure and backs off; after
    ``FORWARD_LOOKUP_MAX_FAILURES`` in a row the leg needs an operator (lookups go on hourly). Then the
    split is failed for the payout queue; it resumes by itself once a lookup settles the leg.
    """
    leg = PaymentLeg.objects.filter(pk=leg_id).first()
    if leg is None or leg.status not in (L.PENDING, L.UNKNOWN):
        return "skipped"
    if not leg.payment_hash:
        return "no_hash"
    seen_status, seen_attempts = leg.status, leg.attempts
    provider = provider_for_leg(leg)  # the account that paid the leg is the one to ask
    invoice_state: InvoiceState | None = None
    try:
        lookup = provider.payment_lookup(payment_hash=leg.payment_hash)
        if lookup.status is SendStatus.UNKNOWN and leg.route_kind == PayoutRouteKind.LNURL:
            # Blink keeps no status for an invoice outside it: no send of ours, so its own expiry decides.
            invoice_state = outside_invoice_state(leg.payment_request)
        elif lookup.status is SendStatus.UNKNOWN:
            try:
                invoice_state = provider.invoice_status(payment_hash=leg.payment_hash).state
            except InvoiceNotFound:
                invoice_state = None
    except WalletError as exc:
        return _lookup_failed(leg_id, seen_status, seen_attempts, code=exc.code, message=exc.message)
    resumed = False
    with transaction.atomic():
        split = lock_split(split_id=leg.split_id)
        assert split is not None
        legs = lock_legs(split)
        leg = next(x for x in legs if x.pk == leg_id)
        if leg.status != seen_status or leg.attempts != seen_attempts:
            return "changed"
        if lookup.status is SendStatus.SUCCEEDED:
            result = SendResult(
                status=SendStatus.SUCCEEDED,
                fee_sats=None if lookup.fee_sats is None else lookup.fee_sats + lookup.fee_reimbursed_sats,
                preimage=lookup.preimage,
                fee_reimbursed_sats=lookup.fee_reimbursed_sats,
            )
            leg_succeed_locked(split, legs, leg, result=result, source="lookup")
            outcome = "succeeded"
        elif lookup.status is SendStatus.FAILED:
            leg_fail_locked(leg, code="PAYMENT_FAILED", message="Blink reports the send failed or was refunded.")
            outcome = "failed"
        elif lookup.status is SendStatus.PENDING:
            if leg.status == L.UNKNOWN:
                transition_leg(leg, L.PENDING, event_type="leg_pending", data={"source": "lookup"}, lookup_failures=0)
            outcome = "pending"
        elif invoice_state in (InvoiceState.PENDING, InvoiceState.EXPIRED):
            outcome = _not_sent_locked(leg, invoice_state)
        else:
            outcome = _paid_not_by_us_locked(split, leg, invoice_state)
        settled = settle_locked(split, legs)
        if split.status == S.FAILED:
            resumed = resume_if_unblocked_locked(split, legs, reason="lookup") == "resumed"
        requeue = resumed or (outcome == "requeued" and settled == "in_progress")
        if requeue:
            transaction.on_commit(lambda: enqueue_forward(split.pk))
    return outcome


def _not_sent_locked(leg: PaymentLeg, invoice_state: InvoiceState) -> str:
    """Blink has no send of ours and the invoice is unpaid: the send never arrived (see above)."""
    refused = leg.last_error_code if leg.last_error_code in NOT_RETRYABLE else ""
    message = f"Blink has no send for this invoice and it is {invoice_state.value.lower()}."
    if refused:  # refused for good (e.g. our key cannot send): re-sending cannot help
        leg_fail_locked(leg, code=refused, message=f"{message} The send was refused: {leg.last_error}"[:500])
        return "failed"
    if leg.attempts > 1 or leg.attempts >= max_attempts():
        leg_fail_locked(leg, code="NOT_SENT", message=message)  # a backoff; no retry past the cap
        return "failed"
    leg_fail_locked(leg, code="NOT_SENT", message=message, delay=timedelta(0))
    rearm_locked(leg, reason="not_sent", invoice_state=invoice_state)
    return "requeued"


def _paid_not_by_us_locked(split: PaymentSplit, leg: PaymentLeg, invoice_state: InvoiceState | None) -> str:
    log.error("reconcile.leg_unexplained", leg_id=leg.pk, payout_hash=leg.payment_hash, invoice=str(invoice_state))
    if invoice_state is InvoiceState.PAID and leg.last_error_code != PAID_NOT_BY_US:
        # Not a state change (the leg stays pending/unknown: no send of ours to fail), so no transition.
        leg.last_error_code = PAID_NOT_BY_US
        leg.last_error = "Blink says the payout invoice is paid, but the platform wallet never sent it."
        leg.next_attempt_at = timezone.now() + LOOKUP_RETRY_CAP
        leg.save(update_fields=["last_error_code", "last_error", "next_attempt_at", "updated_at"])
        record_event(split, "leg_needs_operator", {"leg_id": leg.pk, "reason": PAID_NOT_BY_US}, leg=leg)
    return "unresolved"


def _lookup_failed(leg_id: int, seen_status: str, seen_attempts: int, *, code: str, message: str) -> str:
    """A lookup Blink did not answer: count it, back off, and at the cap hand the leg to an operator."""
    log.warning("reconcile.lookup_failed", leg_id=leg_id, error_code=code)
    split_id = PaymentLeg.objects.filter(pk=leg_id).values_list("split_id", flat=True).first()
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        if split is None:
            return "lookup_failed"
        legs = lock_legs(split)
        leg = next(x for x in legs if x.pk == leg_id)
        if leg.status != seen_status or leg.attempts != seen_attempts:
            return "changed"
        leg.lookup_failures += 1
        leg.next_attempt_at = timezone.now() + min(backoff(leg.lookup_failures), LOOKUP_RETRY_CAP)
        leg.last_error = f"Lookup at Blink failed {leg.lookup_failures} time(s): {code} {message}"[:500]
        leg.save(update_fields=["lookup_failures", "next_attempt_at", "last_error", "updated_at"])
        if leg.lookup_failures == lookup_max_failures():
            data = {"leg_id": leg_id, "reason": "lookup_failed", "error_code": code}
            record_event(split, "leg_needs_operator", data, leg=leg)
            log.error("reconcile.leg_needs_operator", leg_id=leg_id, error_code=code, failures=leg.lookup_failures)
        settle_locked(split, legs)
    return "lookup_failed"
