"""A forward's sends: claiming a leg (``invoice_ready`` -> ``sending``, the attempt written down before
anything is paid) and recording what the provider answered (money rules 2, 3 and 5).

``SendChain`` cuts a forward's round trips to PostgreSQL (issue 22): the transaction that records leg
i's outcome also claims leg i+1 when it is ``invoice_ready`` (the split and its legs are locked there
anyway), so each leg costs one transaction after its send instead of one before and one after. The
claim is the same committed step as before, just taken earlier: a worker that dies before paying the
claimed leg leaves it ``sending`` with its attempt, exactly like a death right after a claim of its
own, and the reconciler looks it up (never re-sent blindly). Only the very next leg of the forward's
order is claimed, and never after a failure that re-routes the leg (the forward may stop there). The
first leg is claimed alike by the transaction that commits the sale's payout invoices (``payout_batch``).
The transaction recording the last leg also settles the pass (``settle_locked``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus
from payments.services.leg_outcomes import leg_fail_locked, leg_succeed_locked, rearm_locked, settle_locked
from payments.services.row_sql import update_fields
from payments.services.transitions import events_batched, lock_legs, lock_split, transition_leg
from payments.wallet.base import WalletProvider
from payments.wallet.types import SendResult, SendStatus

log = get_logger(__name__)

L = LegStatus


@dataclass(frozen=True)
class Claim:
    """A committed claim: what the send pays (the leg's committed bolt11) and under which attempt."""

    attempt: int
    payment_request: str
    payment_hash: str
    route_kind: str
    amount: int


@dataclass
class SendChain:
    """One forward pass: the sale's provider (built once) and the legs in the order they are sent."""

    provider: WalletProvider
    order: list[int]
    claimed: dict[int, Claim] = field(default_factory=dict)
    # The pass's outcome (``settle_locked``), computed in the transaction that recorded the last leg:
    # nothing happens between that commit and the end of the pass, so a separate one would re-read
    # the same rows.
    settled: str | None = None

    def claim_first_locked(self, split: PaymentSplit, legs: list[PaymentLeg]) -> None:
        """Claim the first leg of the order (the transaction committing the payout invoices, so the
        first send needs no transaction of its own). Its invoice is committed by then: in this same
        transaction or an earlier one; a leg not ``invoice_ready`` is left to the per-leg path."""
        if not self.order or self.order[0] in self.claimed:
            return
        first = next((x for x in legs if x.pk == self.order[0]), None)
        claim = claim_locked(split, first) if first is not None else None
        if claim is not None:
            self.claimed[self.order[0]] = claim

    def claim_next_locked(self, split: PaymentSplit, legs: list[PaymentLeg], leg_id: int) -> None:
        index = self.order.index(leg_id) if leg_id in self.order else -1
        if index < 0 or index + 1 >= len(self.order):
            return
        following = next((x for x in legs if x.pk == self.order[index + 1]), None)
        claim = claim_locked(split, following) if following is not None else None
        if claim is not None:
            self.claimed[following.pk] = claim  # type: ignore[union-attr]


def claim_locked(split: PaymentSplit, leg: PaymentLeg) -> Claim | None:
    """``invoice_ready`` -> ``sending`` with attempts+1 (split and legs locked by the caller); None when
    the leg or the split is not in a state to send."""
    if leg.status != L.INVOICE_READY or split.status != SplitStatus.PROCESSING:
        return None
    attempt = leg.attempts + 1
    transition_leg(
        leg,
        L.SENDING,
        event_type="leg_sent",
        data={"attempt": attempt},
        attempts=attempt,
        sent_at=timezone.now(),
        lookup_failures=0,
    )
    return Claim(
        attempt=attempt,
        payment_request=leg.payment_request or "",
        payment_hash=leg.payment_hash or "",
        route_kind=leg.route_kind or "",
        amount=leg.amount,
    )


def record_send(
    *,
    split_id: int,
    leg_id: int,
    attempt: int,
    result: SendResult,
    source: str = "send",
    migrated: bool = False,
    chain: SendChain | None = None,
) -> str:
    """Record a send's outcome for the attempt that made it. If the leg was taken over meanwhile (the
    reconciler judged the send abandoned), only a success is still applied; anything else is left
    to the lookup, which asks Blink instead of trusting a stale answer. With ``chain``, the same
    transaction claims the forward's next leg (see the module docstring)."""
    with transaction.atomic(), events_batched():  # its events (up to 4 on the last leg) in one INSERT
        split = lock_split(split_id=split_id)
        assert split is not None
        legs = lock_legs(split)
        outcome = _record_locked(split, legs, leg_id, attempt, result, source=source, migrated=migrated)
        if chain is not None and not migrated:
            chain.claim_next_locked(split, legs, leg_id)
            if chain.order and leg_id == chain.order[-1]:
                chain.settled = settle_locked(split, legs)
    if outcome not in ("superseded", "late_succeeded"):
        log.info("forwarding.leg_recorded", leg_id=leg_id, attempt=attempt, outcome=result.status.value)
    return "succeeded" if outcome == "late_succeeded" else outcome


def _record_locked(
    split: PaymentSplit,
    legs: list[PaymentLeg],
    leg_id: int,
    attempt: int,
    result: SendResult,
    *,
    source: str,
    migrated: bool,
) -> str:
    leg = next(x for x in legs if x.pk == leg_id)
    if leg.status != L.SENDING or leg.attempts != attempt:
        if result.status is SendStatus.SUCCEEDED and leg.status in (L.PENDING, L.UNKNOWN):
            leg_succeed_locked(split, legs, leg, result=result, source="late_answer")
            return "late_succeeded"
        log.warning("forwarding.send_superseded", leg_id=leg_id, attempt=attempt, status=leg.status)
        return "superseded"
    if result.status is SendStatus.SUCCEEDED:
        leg_succeed_locked(split, legs, leg, result=result, source=source)
    elif result.status is SendStatus.PENDING:
        transition_leg(leg, L.PENDING, event_type="leg_pending", data={"attempt": attempt})
    elif result.status is SendStatus.UNKNOWN:
        transition_leg(
            leg,
            L.UNKNOWN,
            event_type="leg_unknown",
            data={"attempt": attempt, "error_code": result.error_code},
            last_error_code=(result.error_code or "UNKNOWN")[:50],
            last_error=(result.message or "")[:500],
        )
    else:
        leg_fail_locked(leg, code=result.error_code or "FAILURE", message=result.message or "")
        if migrated:
            reroute_locked(leg)
    return result.status.value.lower()


def reroute_locked(leg: PaymentLeg) -> None:
    """The failed custodial payout of a migrated recipient: the pinned wallet is dropped and the leg
    planned again (a new invoice through the recipient's route, in the same leg's history)."""
    leg.recipient_wallet_id = ""
    update_fields(leg, ["recipient_wallet_id", "updated_at"])
    rearm_locked(leg, reason="recipient_migrated", invoice_state=None, replace=True)
    log.info("forwarding.leg_rerouted", leg_id=leg.pk)
