"""A forward's sends: claiming a leg (``invoice_ready`` -> ``sending``, the attempt written down before
anything is paid) and recording what the provider answered (money rules 2, 3 and 5).

``SendChain`` cuts a forward's serial path (issue 22) in two ways, without changing what is committed
before what:

- **Claims ride on other transactions.** The transaction that commits the sale's payout invoices
  (``payout_batch``) claims the first ``AHEAD`` legs of the forward's order, and the transaction that
  records leg i's outcome claims the legs up to i + ``AHEAD`` that are ``invoice_ready`` (the split and
  its legs are locked there anyway). A claim is the same committed step as before, taken earlier.
- **The next send does not wait for the previous record.** As soon as leg i's answer is in (and
  checked: ``forwarding._leg_send``), leg i+1's send starts on a provider thread, paying the
  bolt11 its committed claim names, and leg i's outcome is recorded while it is in flight. Blink
  serialises a wallet's sends anyway, and only one send is ever in flight: the provider time of a
  4-leg sale is its sends back to back, with the PostgreSQL work in their shadow.

A worker that dies meanwhile leaves a claimed leg ``sending`` with its attempt, whether its send
started or not, exactly like a death right after a claim of its own: the reconciler looks it up
(``reconcile``: a send is never repeated blindly), and at most ``AHEAD`` legs of a sale are claimed
without an answer. Only legs of the forward's order are claimed, and never after a failure that
re-routes the leg (the forward may stop there). The transaction recording the last leg also settles
the pass (``settle_locked``).
"""

from __future__ import annotations

from concurrent.futures import Future, wait
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.faults import fault_point
from payments.models import LegStatus, PaymentLeg, PaymentSplit, SplitStatus
from payments.services import provider_threads
from payments.services.leg_outcomes import leg_fail_locked, leg_succeed_locked, rearm_locked, settle_locked
from payments.services.row_sql import update_fields
from payments.services.transitions import events_batched, lock_legs, lock_split, transition_leg
from payments.wallet.base import WalletProvider
from payments.wallet.types import SendResult, SendStatus

log = get_logger(__name__)

L = LegStatus

# Legs claimed ahead of the one being recorded: the next one (its send starts before the record) and
# the one after (claimed by that record, so it is committed before the next answer arrives).
AHEAD = 2


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
    """One forward pass: the sale's provider (built once), the legs in the order they are sent, the
    committed claims not yet sent, and the one send started ahead (see the module docstring). Used as
    a context manager: leaving it waits for a send still in flight (a pass that failed midway does not
    abandon a running request; its answer is left to the reconciler's lookup)."""

    provider: WalletProvider
    order: list[int]
    claimed: dict[int, Claim] = field(default_factory=dict)
    # The pass's outcome (``settle_locked``), computed in the transaction that recorded the last leg:
    # nothing happens between that commit and the end of the pass, so a separate one would re-read
    # the same rows.
    settled: str | None = None
    in_flight: dict[int, Future[SendResult]] = field(default_factory=dict)

    def __enter__(self) -> SendChain:
        return self

    def __exit__(self, *exc: object) -> None:
        wait(self.in_flight.values())

    def claim_first_locked(self, split: PaymentSplit, legs: list[PaymentLeg]) -> None:
        """Claim the first legs of the order (the transaction committing the payout invoices, so the
        first sends need no transaction of their own). Their invoices are committed by then: in this
        same transaction or an earlier one; a leg not ``invoice_ready`` is left to the per-leg path."""
        self._claim_window_locked(split, legs, 0)

    def claim_next_locked(self, split: PaymentSplit, legs: list[PaymentLeg], leg_id: int) -> None:
        """With leg ``leg_id``'s outcome: claim the legs after it, up to ``AHEAD`` positions."""
        if leg_id in self.order:
            self._claim_window_locked(split, legs, self.order.index(leg_id) + 1)

    def _claim_window_locked(self, split: PaymentSplit, legs: list[PaymentLeg], start: int) -> None:
        by_id = {leg.pk: leg for leg in legs}
        for leg_id in self.order[start : start + AHEAD]:
            leg = by_id.get(leg_id)
            if leg_id in self.claimed or leg is None:
                continue
            claim = claim_locked(split, leg)
            if claim is not None:
                self.claimed[leg_id] = claim

    def start_next(self, leg_id: int) -> None:
        """Start the send of the leg after ``leg_id`` when it is claimed and not started yet. The send
        pays the bolt11 of its committed claim, on a provider thread (HTTP only, no database)."""
        index = self.order.index(leg_id) + 1 if leg_id in self.order else len(self.order)
        if index >= len(self.order):
            return
        following = self.order[index]
        claim = self.claimed.get(following)
        if claim is None or following in self.in_flight:
            return
        before_send(following, claim)
        pay = self.provider.pay_invoice
        self.in_flight[following] = provider_threads.submit(pay, payment_request=claim.payment_request)


def before_send(leg_id: int, claim: Claim) -> None:
    """What precedes every send of a claimed leg, whichever thread makes it: the log line, and the
    chaos soak's fault point (a worker killed with the claim committed and nothing sent)."""
    log.info(
        "forwarding.leg_sending",
        leg_id=leg_id,
        attempt=claim.attempt,
        amount=claim.amount,
        payout_hash=claim.payment_hash,
    )
    fault_point("before_send")


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
