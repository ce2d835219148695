"""Committing planned payout invoices, and planning a split's custodial legs concurrently (issue 22).

A split's payout invoices do not depend on each other: for the usual sale every leg pays a Blink
wallet pinned at the sale (an on-behalf invoice, no fee, no LNURL), so the forward asks Blink for all
of them at once (``plan_custodial_legs``: on the process's ``provider_threads``, HTTP only, no
database access there), commits every CHECKED bolt11 in ONE transaction under the split lock (money
rules 2 and 8: each leg's invoice is committed before anything pays it), and only then pays them one after another.
At 100 ms provider latency a 4-leg sale goes from 4 sequential creates to one round trip.

Everything that is not that plain case (an LNURL route, a merchant base that absorbs fees and waits
for them, a leg not due, a refusal, an exception) is left ``planned`` for the per-leg path in
``forwarding``, which plans it exactly as before: the batch only ever takes work away from it, never
changes what it decides. A refused or failed concurrent create leaves nothing committed: the per-leg
path asks again (``DuplicateExternalId`` moves to the next suffix if Blink kept an invoice).

``commit_planned_locked`` is the one commit of a planned invoice, shared by both paths: conditional on
the leg still being ``planned`` (a racing worker's invoice is an orphan, never paid), on the outflow
cap, and on the base leg not being committed when the merchant absorbs the fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import router, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.domain.payout_fees import MERCHANT
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, Staff
from payments.models.splits import LegKind
from payments.platform_accounts import provider_for
from payments.prepared import PreparedQuery, values_rows
from payments.services import provider_threads
from payments.services.leg_outcomes import leg_fail_locked
from payments.services.leg_sends import SendChain
from payments.services.payout_plan import (
    PlannedInvoice,
    PlanRefusal,
    base_leg_committed,
    custodial_create,
    outflow_problem,
    prefers_address,
)
from payments.services.payout_routes import PayoutDestination
from payments.services.transitions import events_batched, lock_legs, lock_split, transition_leg
from payments.wallet.base import WalletProvider

log = get_logger(__name__)

OUTFLOW_EXCEEDED = "OUTFLOW_EXCEEDED"


def commit_planned_locked(split: PaymentSplit, legs: list[PaymentLeg], leg_id: int, planned: PlannedInvoice) -> str:
    """Commit ``planned`` on the leg (split and legs locked by the caller's transaction): ``created``,
    ``raced`` (not committed: the invoice is an orphan nobody pays) or ``failed`` (outflow cap)."""
    current = next(x for x in legs if x.pk == leg_id)
    if current.status != LegStatus.PLANNED:
        log.info("forwarding.payout_invoice_orphaned", leg_id=leg_id, payout_hash=planned.payment_hash)
        return "raced"
    if planned.fee_payer == MERCHANT and base_leg_committed(legs):
        # The base was committed meanwhile (an operator's action): it can no longer absorb this fee.
        log.info("forwarding.payout_invoice_orphaned", leg_id=leg_id, payout_hash=planned.payment_hash)
        return "raced"
    if problem := outflow_problem(split, legs, planned=planned, leg_id=leg_id):
        log.error("forwarding.outflow_exceeded", leg_id=leg_id, problem=problem)
        leg_fail_locked(current, code=OUTFLOW_EXCEEDED, message=problem, retryable=False)
        return "failed"
    transition_leg(
        current,
        LegStatus.INVOICE_READY,
        event_type="leg_invoice_created",
        data={
            "payout_hash": planned.payment_hash,
            "external_id": planned.external_id,
            "amount": current.amount,
            "payout_amount": planned.amount_sats,
            "route": planned.route_kind,
            "address": planned.route_address,
            "fee_estimate": planned.fee_estimate,
            "fee_payer": planned.fee_payer,
        },
        payment_request=planned.payment_request,
        payment_hash=planned.payment_hash,
        payout_amount=planned.amount_sats,
        route_kind=planned.route_kind,
        route_address=planned.route_address[:255],
        fee_estimate_sats=planned.fee_estimate,
        fee_payer=planned.fee_payer,
        next_attempt_at=None,
    )
    log.info(
        "forwarding.payout_invoice_committed", leg_id=leg_id, payout_hash=planned.payment_hash, route=planned.route_kind
    )
    return "created"


def _may_batch(leg: PaymentLeg) -> bool:
    """The checks of ``_plain_custodial`` that need nothing but the leg's own row."""
    if leg.status != LegStatus.PLANNED or not leg.recipient_wallet_id:
        return False
    return not (leg.next_attempt_at and leg.next_attempt_at > timezone.now())


def _with_staff(split_id: int, legs: list[PaymentLeg]) -> list[PaymentLeg]:
    """``legs`` with their staff rows attached (one read for all of them), as ``_LEGS_WITH_STAFF`` reads them."""
    if not any(leg.staff_id is not None for leg in legs):
        return legs
    staff: dict[int | None, Staff] = {row.pk: row for row in _STAFF_OF_SPLIT.fetch(split_id=split_id)}
    for leg in legs:
        if (found := staff.get(leg.staff_id)) is not None:  # a missing row: ``leg.staff`` reads and raises, as before
            leg.staff = found
    return legs


def _plain_custodial(split: PaymentSplit, leg: PaymentLeg) -> bool:
    """A leg ``payout_plan`` would plan as one on-behalf invoice on its pinned wallet for its whole
    amount, with nothing to read or decide in between."""
    if not _may_batch(leg):
        return False
    if leg.kind == LegKind.MERCHANT and split.merchant.absorbs_payout_fees:
        return False  # its share depends on the tips' fees: planned last, by the per-leg path
    if leg.staff_id is not None:
        assert leg.staff is not None
        destination: PayoutDestination | None = PayoutDestination.of(leg.staff)
    elif leg.kind == LegKind.MERCHANT:
        destination = PayoutDestination.of(split.merchant)
    else:
        destination = None
    return not prefers_address(destination)


def _create(leg: PaymentLeg, committed: int, provider: WalletProvider) -> PlannedInvoice | PlanRefusal | None:
    """One leg's on-behalf invoice, in a pool thread (HTTP only). None: an error the per-leg path meets
    again and handles (it raises ``WalletUnavailable`` for the task's retry)."""
    try:
        return custodial_create(
            leg, wallet_id=leg.recipient_wallet_id, amount=leg.amount, provider=provider, committed=committed
        )
    except Exception as exc:  # nothing was committed: the per-leg path decides
        log.info("forwarding.batch_create_left", leg_id=leg.pk, error=type(exc).__name__)
        return None


# The batch's reads, compiled once per process (payments/prepared.py): one forward each.
_SPLIT_WITH_MERCHANT = PreparedQuery(
    PaymentSplit, lambda split_id: PaymentSplit.objects.select_related("merchant").filter(pk=split_id)[:1], "split_id"
)
_LEGS_WITH_STAFF = PreparedQuery(
    PaymentLeg,
    lambda split_id: PaymentLeg.objects.filter(split_id=split_id).select_related("staff").order_by("pk"),
    "split_id",
)

_STAFF_OF_SPLIT = PreparedQuery(
    Staff,
    lambda split_id: Staff.objects.filter(
        pk__in=PaymentLeg.objects.filter(split_id=split_id, staff_id__isnull=False).values("staff_id")
    ),
    "split_id",
)


def _invoices_committed(event_type: str, payment_hash: str) -> QuerySet[Any]:
    # Parameters in the compiled order (the filter's keywords, sorted): values_rows checks it.
    return (
        PaymentEvent.objects.filter(event_type=event_type, split_id=payment_hash)  # type: ignore[misc]  # to_field: the hash
        .values_list("leg_id")
        .annotate(n=Count("id"))
    )


@dataclass(frozen=True)
class ForwardStart:
    """What the forward's first transaction just read and committed (``forwarding._forward``): the split
    (its merchant loaded) and its legs, and whether that transaction started the forward (the split was
    ``paid``: no leg of it has ever committed a payout invoice, since invoices are only committed for a
    processing split and a split never returns to ``paid``). The batch plans from these rows instead of
    reading them again; whatever changed since is caught where it matters, at the commit, which re-locks
    every row and commits only legs still ``planned``."""

    split: PaymentSplit
    legs: list[PaymentLeg]
    started: bool


def plan_custodial_legs(split_id: int, *, chain: SendChain | None = None, start: ForwardStart | None = None) -> int:
    """Create the plain custodial legs' payout invoices concurrently and commit them together; returns
    how many were committed. Called outside any transaction; fewer than two such legs: nothing to gain,
    the per-leg path does it. With the forward's ``chain``, the same transaction claims the first leg it
    sends (``SendChain.claim_first_locked``), as the transaction recording a send claims the next. With
    ``start``, the forward's first transaction's rows stand in for the batch's reads (one staff read
    instead of three statements on the way to the first create)."""
    if start is None:
        found = _SPLIT_WITH_MERCHANT.fetch(split_id=split_id)
        if not found:
            raise PaymentSplit.DoesNotExist(f"PaymentSplit {split_id} does not exist.")
        split = found[0]
        legs = _LEGS_WITH_STAFF.fetch(split_id=split_id)
    else:
        split, legs = start.split, _with_staff(split_id, [leg for leg in start.legs if _may_batch(leg)])
    todo = [leg for leg in legs if _plain_custodial(split, leg)]
    if len(todo) < 2:
        return 0
    # How many payout invoices each leg already committed (a retry's new invoice is the next one); none
    # when this forward started the split. A count too low would only cost a round trip: Blink refuses
    # the taken externalId and ``custodial_create`` moves to the next suffix.
    committed = (
        {}
        if start is not None and start.started
        else dict(
            values_rows(
                "batch_invoices_committed",
                _invoices_committed,
                "leg_invoice_created",
                split.payment_hash,
                using=router.db_for_read(PaymentEvent),
            )
        )
    )
    provider = provider_for(account_id=split.platform_account_id)  # the sale's account pays its legs
    calls = [provider_threads.submit(_create, leg, committed.get(leg.pk, 0), provider) for leg in todo]
    results = [call.result() for call in calls]
    ready = [(leg.pk, r) for leg, r in zip(todo, results, strict=True) if isinstance(r, PlannedInvoice)]
    if not ready:
        return 0
    done = 0
    with transaction.atomic(), events_batched():  # the legs' leg_invoice_created events in one INSERT
        locked = lock_split(split_id=split_id)
        assert locked is not None
        locked_legs = lock_legs(locked)
        for leg_id, planned in ready:
            done += commit_planned_locked(locked, locked_legs, leg_id, planned) == "created"
        if chain is not None:
            chain.claim_first_locked(locked, locked_legs)
    return done
