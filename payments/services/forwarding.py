"""Forwarding: pay every leg of a paid split exactly once (docs/ARCHITECTURE.md: money rules 2, 3 and 5; Flows 3).

Per leg, in id order, each step a short transaction with the split locked first and its legs after
(the lock order of ``transitions``), and every provider call OUTSIDE any transaction. Work is
shared between legs to save round trips (issue 22), without changing what is committed before what:
the plain custodial legs' payout invoices are created concurrently and committed in one transaction
(``payout_batch``); the transaction recording one leg's send also claims the legs after it, and the
next leg's send starts as soon as the previous answer is checked, while that answer is recorded
(``leg_sends.SendChain``). The webhook worker takes the first step (``paid`` -> ``processing``) in the
transaction of its detection (``forward_begin_locked``), one commit instead of two. Each leg:

1. ``planned``: obtain the recipient's payout invoice through their route (``payout_plan``: an
   on-behalf invoice on their Blink wallet, or a checked invoice from their Lightning address with the
   routing fee probed and capped), then commit its bolt11, hash, route and fee parts
   (``invoice_ready``). The commit is conditional on the leg still being ``planned``: if two workers
   raced, the loser's invoice is never committed and so never paid (an unpaid orphan invoice on the
   recipient's account costs nothing and expires).
2. ``invoice_ready`` -> ``sending`` (commit: the attempt is written down before the side effect),
   then ``pay_invoice`` of that committed bolt11, then record the outcome. The status is the claim:
   only one worker moves a leg out of ``invoice_ready``.
3. Outcomes: SUCCEEDED / ALREADY_PAID -> ``succeeded``; PENDING -> ``pending``; UNKNOWN -> ``unknown``
   (only a lookup moves those on, see ``reconcile.leg_resolve_pending``). An explicit FAILURE is first
   checked against the platform wallet's ledger (``payment_lookup``): Blink answers FAILURE "Invoice is
   already paid" instead of ALREADY_PAID once its 5-minute payment flow expired, and can record a send
   and then answer an error, so the ledger decides: a send found -> ``succeeded`` / ``pending``; no send
   and the invoice unpaid -> ``failed`` with a backoff in ``next_attempt_at`` (bounded attempts) or, for
   errors a retry cannot fix (RECEIVE_DISABLED, unknown recipient, our key), no retry; the ledger
   unreachable -> ``unknown``. What follows a failure is ``leg_outcomes``.

Why retries cannot pay twice: every send of a leg pays the SAME committed bolt11; Blink settles an
invoice once and answers ALREADY_PAID (or that "already paid" FAILURE) afterwards. A new payout
invoice is only created for a leg with no committed invoice, whose invoice Blink says EXPIRED, whose
outside invoice Blink's ledger says our send FAILED or that expired with no send of ours
(``payout_outside``), or whose custodial wallet Blink confirmed cannot receive and whose recipient now
resolves to a Lightning address (a migration: ``_reroute_locked``); every committed hash stays in the
leg's ``leg_invoice_created`` events (``leg_outcomes.rearm_locked``).

Payout ``externalId`` (unique per recipient account): the leg's ``external_id``, then
``{external_id}-r{n}`` with n = invoices already committed for the leg. A crash between Blink's create
and our commit leaves the id taken: DuplicateExternalId moves to the next suffix (bounded). The
orphan was never committed, so nobody ever pays it.

When the last leg succeeds (or is resolved), the same transaction completes the split: status
``completed``, ``forwarding_completed`` + ``completed`` events, ``user_payment_hash`` /
``tip_payment_hash``, ``processed_at``. ``tip_recipient_stats`` is updated in the transaction of each
tip leg's success (the definition ``tip_stats.expected_stats`` verifies against, so the stats job
never sees drift); for the usual split the tip leg is the last one, so that is the completion
transaction too. The hot key is evicted after commit by ``transition_split``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.faults import fault_point
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.models.parties import PayoutRouteKind
from payments.platform_accounts import provider_for, split_account_id
from payments.prepared import values_rows
from payments.services import forward_lock
from payments.services.leg_outcomes import (
    DONE,
    backoff,
    fail_split,
    leg_fail_locked,
    max_attempts,
    payout_invoice_state,
    rearm_locked,
    settle_locked,
)
from payments.services.leg_recipients import leg_take_staff_wallet
from payments.services.leg_sends import SendChain, before_send, claim_locked, record_send
from payments.services.payout_batch import ForwardStart, commit_planned_locked, plan_custodial_legs
from payments.services.payout_ledger import confirm_failure, with_reimbursement
from payments.services.payout_outside import outside_may_replace
from payments.services.payout_plan import (
    MIGRATED_CODES,
    PlanRefusal,
    base_waits_for_fees,
    migrated_leg_reroutes,
    payout_plan,
)
from payments.services.pool_accruals import pool_accrue_locked
from payments.services.tip_adjustments import tip_recoveries_apply_locked
from payments.services.transitions import leg_get, lock_legs, lock_split, transition_split
from payments.wallet.errors import InvalidInput
from payments.wallet.types import SendResult, SendStatus

log = get_logger(__name__)

L, S = LegStatus, SplitStatus


# --- the forwarder -------------------------------------------------------------------------------


def forward_split(*, split_id: int) -> str:
    """Forward every leg of a paid (or processing) split that is not yet done.

    Idempotent and safe concurrently with itself: each step claims its leg by status under the split
    lock. Returns the split's outcome for this pass (``completed``, ``failed``, ``in_progress``,
    ``busy``, ``missing`` or ``not_forwardable:<status>``). Raises ``WalletUnavailable`` when the
    provider cannot be reached (the task retries; nothing half-done is lost).
    """
    rows = values_rows("forward_split_state", _split_state, split_id, using=router.db_for_read(PaymentSplit))
    if not rows:
        return "missing"
    payment_hash, status = rows[0]
    if status not in (S.PAID, S.PROCESSING):
        return "already_completed" if status == S.COMPLETED else f"not_forwardable:{status}"
    token = forward_lock.acquire(payment_hash)
    if token is None:
        return "busy"
    try:
        return _forward(split_id)
    finally:
        forward_lock.release(payment_hash, token)


def _split_state(split_id: int) -> QuerySet[PaymentSplit, tuple[str, str]]:
    return PaymentSplit.objects.filter(pk=split_id).values_list("payment_hash", "status")[:1]


def _forward(split_id: int) -> str:
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        if split is None:
            return "missing"
        start = _start_locked(split)
    return start if isinstance(start, str) else _forward_from(start)


def _start_locked(split: PaymentSplit) -> ForwardStart | str:
    """The forward's first step, under the split lock of the caller's transaction: ``paid`` ->
    ``processing`` (with the tip recoveries and the pool accrual of that move), and the conservation
    check. A ``ForwardStart`` to go on from once the transaction committed, or the pass's outcome."""
    legs = lock_legs(split)
    started = split.status == S.PAID
    if started:
        transition_split(split, S.PROCESSING, event_type="forwarding_started", data={"legs": len(legs)})
        # Refunded tips still owed by this sale's staff move from their tip legs to the base leg.
        if tip_recoveries_apply_locked(split=split, legs=legs):
            legs = lock_legs(split)
        pool_accrue_locked(split=split)  # pooled mode: the tip joins its shift's pool
    elif split.status != S.PROCESSING:
        return f"not_forwardable:{split.status}"
    problem = _conservation_problem(split, legs)
    if problem:
        fail_split(split, problem)
        return "failed"
    return ForwardStart(split=split, legs=legs, started=started)


def _forward_from(start: ForwardStart) -> str:
    """Every leg not yet done, from the committed first step (outside any transaction)."""
    split, legs, split_id = start.split, start.legs, start.split.pk
    # A merchant absorbing the tips' fees is paid last, once they are known (payout_plan).
    last = split.merchant.absorbs_payout_fees
    todo = [leg.pk for leg in sorted(legs, key=lambda x: last and x.kind == "merchant") if leg.status not in DONE]
    with SendChain(provider=provider_for(account_id=split.platform_account_id), order=todo) as chain:
        if len(todo) > 1:
            # The legs' payout invoices at once, committed together (with the claims of the first legs
            # to send, see ``leg_sends``); then paid one after another below, each send starting as
            # soon as the previous one answered.
            plan_custodial_legs(split_id, chain=chain, start=start)
        for leg_id in todo:
            _advance_leg(split_id, leg_id, chain=chain)
    if chain.settled is not None:  # settled with the last leg's outcome
        return chain.settled
    with transaction.atomic():
        locked = lock_split(split_id=split_id)
        assert locked is not None
        return settle_locked(locked, lock_legs(locked))


# --- a forward begun in the detection's own transaction (the webhook worker) ---------------------


@dataclass(frozen=True)
class ForwardBegun:
    """The first step taken inside the transaction that marked the split paid (``forward_begin_locked``),
    with the advisory lock it holds; ``forward_resume`` goes on once that transaction committed."""

    payment_hash: str
    token: str
    start: ForwardStart | str


def forward_begin_locked(split: PaymentSplit) -> ForwardBegun | None:
    """The forward's first step in the CALLER's transaction, which has just moved the locked ``split``
    to ``paid`` (the webhook worker's detection): one commit for both instead of two, so the payout
    invoices are asked for one transaction sooner. What is committed, and in which order, is unchanged:
    ``paid`` and ``processing`` become visible together, and a worker dying after that commit leaves a
    processing split the reconciler resumes, as after ``_forward``'s own first transaction.

    None when another worker holds the advisory lock (nothing done: the caller forwards later, as
    before). Otherwise the caller MUST end with ``forward_resume`` after its commit, or
    ``forward_abandon`` when its transaction failed (which rolls the first step back with it)."""
    token = forward_lock.acquire(split.payment_hash)
    if token is None:
        return None
    try:
        return ForwardBegun(payment_hash=split.payment_hash, token=token, start=_start_locked(split))
    except BaseException:
        forward_lock.release(split.payment_hash, token)
        raise


def forward_resume(begun: ForwardBegun) -> str:
    """The rest of a forward begun by ``forward_begin_locked``, after that transaction committed."""
    try:
        return begun.start if isinstance(begun.start, str) else _forward_from(begun.start)
    finally:
        forward_lock.release(begun.payment_hash, begun.token)


def forward_abandon(begun: ForwardBegun) -> None:
    """The transaction holding a begun forward failed: nothing of it was committed; release the lock."""
    forward_lock.release(begun.payment_hash, begun.token)


def _conservation_problem(split: PaymentSplit, legs: list[PaymentLeg]) -> str:
    # A pooled tip stays on the platform wallet for its shift: the legs carry the rest.
    received = (
        split.received_amount if split.received_amount is not None else split.total_amount
    ) - split.pooled_amount
    if not legs:
        return "No payout legs: nothing to forward."
    total = sum(leg.amount for leg in legs)
    if total != received:
        return f"Legs sum to {total} sats but {received} sats were received."
    return ""


def _advance_leg(split_id: int, leg_id: int, chain: SendChain | None = None) -> str:
    """Walk one leg forward as far as it goes now: planned -> invoice_ready -> sending -> outcome."""
    for _ in range(6):
        if chain is not None and leg_id in chain.claimed:  # claimed with the previous leg's outcome
            outcome = _leg_send(split_id, leg_id, chain=chain)
            if outcome == "failed" and PaymentLeg.objects.filter(pk=leg_id, status=L.PLANNED).exists():
                continue  # rerouted after a migration
            return outcome
        leg = leg_get(leg_id)
        if leg.status == L.PLANNED:
            if leg.next_attempt_at and leg.next_attempt_at > timezone.now():
                return "not_due"
            # A leg that never committed an invoice and has no wallet: a legacy import's unresolved staff
            # (an operator resolves it) or an address-only staff member (paid through the route).
            unrouted = not leg.recipient_wallet_id and not leg.route_kind
            if unrouted and not leg_take_staff_wallet(split_id=split_id, leg=leg):
                return "failed"
            if _leg_create_invoice(split_id, leg) != "created":
                return leg.status
            continue
        if leg.status == L.INVOICE_READY:
            outcome = _leg_send(split_id, leg_id, chain=chain)
            if outcome == "failed" and PaymentLeg.objects.filter(pk=leg_id, status=L.PLANNED).exists():
                continue  # rerouted after a migration: a new invoice through the recipient's route
            return outcome
        if leg.status == L.FAILED and leg.next_attempt_at and leg.next_attempt_at <= timezone.now():
            if not _leg_rearm(split_id, leg_id):
                return "failed"
            continue
        return str(leg.status)  # in flight, done, or failed waiting for its time or an operator
    return "stepped"


def _leg_create_invoice(split_id: int, leg: PaymentLeg) -> str:
    """Plan the payout invoice outside any transaction (``payout_plan``: the route, the checked
    invoice, the fee), then commit it if the leg is still planned; a refusal is recorded on the leg."""
    split = PaymentSplit.objects.select_related("merchant").get(pk=split_id)
    legs = list(PaymentLeg.objects.filter(split_id=split_id).select_related("staff").order_by("pk"))
    current = next(x for x in legs if x.pk == leg.pk)
    if base_waits_for_fees(split, legs, current):
        return "waiting_for_fees"
    planned = payout_plan(leg=current, split=split, legs=legs)
    if isinstance(planned, PlanRefusal):
        _refuse_plan(split_id, leg.pk, planned)
        return "failed"
    with transaction.atomic():
        locked = lock_split(split_id=split_id)
        assert locked is not None
        return commit_planned_locked(locked, lock_legs(locked), leg.pk, planned)


def _refuse_plan(split_id: int, leg_id: int, refusal: PlanRefusal) -> None:
    """A refused plan (nothing committed, nothing paid): retried after a backoff when the refusal may
    clear by itself, at most FORWARD_MAX_ATTEMPTS times; otherwise the leg waits for an operator."""
    refused_before = PaymentEvent.objects.filter(
        leg_id=leg_id, event_type="leg_failed", event_data__plan_refused=True
    ).count()
    retryable = refusal.retryable and refused_before + 1 < max_attempts()
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        leg = next(x for x in lock_legs(split) if x.pk == leg_id)
        if leg.status == L.PLANNED:
            delay = backoff(refused_before + 1) if retryable else None
            leg_fail_locked(
                leg, code=refusal.code, message=refusal.reason, retryable=retryable, delay=delay, plan_refused=True
            )
    log.warning("forwarding.payout_plan_refused", leg_id=leg_id, code=refusal.code, retry=retryable)


def _leg_send(split_id: int, leg_id: int, chain: SendChain | None = None) -> str:
    """Claim (invoice_ready -> sending, attempts+1, committed), pay outside any transaction, record.
    With ``chain``: the provider built once per forward, the claim already taken by an earlier
    transaction of the pass and the send possibly already started (``leg_sends``); the next leg's send
    starts as soon as this one's answer is checked, before this one is recorded."""
    claim = chain.claimed.pop(leg_id, None) if chain is not None else None
    # The sale's own account pays its legs (never the merchant's current one); resolved before the claim
    # so a provider that cannot be built fails with the leg still invoice_ready, not sending.
    provider = chain.provider if chain is not None else provider_for(account_id=split_account_id(split_id=split_id))
    if claim is None:
        with transaction.atomic():
            split = lock_split(split_id=split_id)
            assert split is not None
            claim = claim_locked(split, next(x for x in lock_legs(split) if x.pk == leg_id))
            if claim is None:
                return "skipped"
    attempt = claim.attempt
    source = "send"
    started = chain.in_flight.pop(leg_id, None) if chain is not None else None
    if started is None:
        before_send(leg_id, claim)
    try:
        if started is not None:
            result = started.result()
        else:
            result = provider.pay_invoice(payment_request=claim.payment_request)
    except InvalidInput as exc:  # refused by our own validation before any request: nothing was sent
        result = SendResult(status=SendStatus.FAILED, error_code="INVALID_INPUT", message=exc.message)
    else:
        if result.status is SendStatus.FAILED:
            result = confirm_failure(payment_hash=claim.payment_hash, result=result, provider=provider)
            source = "ledger_after_failure"
        elif result.status is SendStatus.SUCCEEDED and claim.route_kind == PayoutRouteKind.LNURL:
            result = with_reimbursement(claim.payment_hash, result, provider=provider)
    fault_point("after_send")
    # Blink confirmed (its ledger holds no send) that the custodial wallet cannot receive: the recipient
    # migrated. A new invoice through their route (payout_plan re-resolves without cache) is safe now.
    migrated = (
        result.status is SendStatus.FAILED
        and (result.error_code or "") in MIGRATED_CODES
        and claim.route_kind != PayoutRouteKind.LNURL
        and migrated_leg_reroutes(leg_id=leg_id)
    )
    if chain is not None:
        chain.start_next(leg_id)  # its claim is committed: sent while this answer is recorded
    return record_send(
        split_id=split_id, leg_id=leg_id, attempt=attempt, result=result, source=source, migrated=migrated, chain=chain
    )


def _leg_rearm(split_id: int, leg_id: int) -> bool:
    """A failed leg whose backoff elapsed: same bolt11 again, or a new invoice when Blink (asked first,
    outside the transaction) says the committed one expired; for an outside invoice, when Blink's
    ledger says our send of it failed, or it expired by its own clock with no send of ours
    (``payout_outside``)."""
    row = PaymentLeg.objects.filter(pk=leg_id).values("payment_hash", "payment_request", "route_kind").first()
    payment_hash = row["payment_hash"] if row else None
    replace = False
    state = None
    provider = provider_for(account_id=split_account_id(split_id=split_id))
    if row and payment_hash and row["route_kind"] == PayoutRouteKind.LNURL:
        replace = bool(
            outside_may_replace(payment_hash=payment_hash, payment_request=row["payment_request"], provider=provider)
        )
    else:
        state = payout_invoice_state(payment_hash, provider=provider)
    with transaction.atomic():
        split = lock_split(split_id=split_id)
        assert split is not None
        leg = next(x for x in lock_legs(split) if x.pk == leg_id)
        due = leg.next_attempt_at is not None and leg.next_attempt_at <= timezone.now()
        if leg.status != L.FAILED or not due or split.status != S.PROCESSING or leg.payment_hash != payment_hash:
            return False
        rearm_locked(leg, reason="backoff_elapsed", invoice_state=state, replace=replace)
        return True
