"""The one way a split or a leg changes state.

Every transition is checked against the allowed-transitions tables below, under a row lock the
caller holds, and appends its audit event in the same transaction. After commit the hot store is
brought in line (active splits rewritten, finished ones evicted).

Lock order, everywhere: the split row first, then its legs by id. ``lock_split`` and ``lock_legs``
are the only ways to take those locks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from blinkpos.errors import ApplicationError
from payments import store
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.models.events import retention_class_for
from payments.prepared import PreparedQuery
from payments.services import webhook_outbox
from payments.services.row_sql import insert_rows, update_fields
from payments.services.status_publish import status_change_recorded

S, L = SplitStatus, LegStatus

SPLIT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PAID, S.EXPIRED, S.CANCELLED}),
    # A late payment still wins: money that arrives is forwarded, never dropped.
    S.EXPIRED: frozenset({S.PAID}),
    S.CANCELLED: frozenset({S.PAID}),
    S.PAID: frozenset({S.PROCESSING}),
    S.PROCESSING: frozenset({S.COMPLETED, S.FAILED}),
    # An operator's retry, or a leg resolved by hand, resumes forwarding.
    S.FAILED: frozenset({S.PROCESSING}),
    S.COMPLETED: frozenset(),
}

LEG_TRANSITIONS: Mapping[str, frozenset[str]] = {
    L.PLANNED: frozenset({L.INVOICE_READY, L.FAILED}),
    L.INVOICE_READY: frozenset({L.SENDING}),
    L.SENDING: frozenset({L.SUCCEEDED, L.PENDING, L.UNKNOWN, L.FAILED}),
    # Not final: only a lookup at the provider (or an operator) moves these on.
    L.PENDING: frozenset({L.SUCCEEDED, L.FAILED, L.UNKNOWN, L.RESOLVED}),
    L.UNKNOWN: frozenset({L.SUCCEEDED, L.FAILED, L.PENDING, L.RESOLVED}),
    # Retry: the same invoice when it is still valid, a new one (planned) when it expired.
    L.FAILED: frozenset({L.INVOICE_READY, L.PLANNED, L.RESOLVED}),
    L.SUCCEEDED: frozenset(),
    L.RESOLVED: frozenset(),
}


class IllegalTransition(ApplicationError):
    """A state change the transition table does not allow from the row's current status."""

    code = "illegal_transition"
    http_status = 409

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target


def split_qs_for_update() -> QuerySet[PaymentSplit]:
    return PaymentSplit.objects.select_for_update(of=("self",))


# The lock statements, compiled once per process from these querysets (Django rebuilds a ~40-column
# SELECT, its column mapping and converters on every call: ~1-2 ms of CPU per lock, and a forward takes
# a dozen; payments/prepared.py). A locked split comes with its merchant (joined, not locked): the
# forward reads the merchant's fee settings from it at several steps, each a query of its own before.
_SPLIT_BY_ID = PreparedQuery(
    PaymentSplit,
    lambda split_id: split_qs_for_update().select_related("merchant").filter(pk=split_id).order_by("pk")[:1],
    "split_id",
)
_SPLIT_BY_HASH = PreparedQuery(
    PaymentSplit,
    lambda payment_hash: split_qs_for_update().select_related("merchant").filter(payment_hash=payment_hash)[:1],
    "payment_hash",
)


_LEGS_OF_SPLIT = PreparedQuery(
    PaymentLeg,
    lambda split_id: PaymentLeg.objects.select_for_update(of=("self",)).filter(split_id=split_id).order_by("pk"),
    "split_id",
)
_ONE_LEG = PreparedQuery(PaymentLeg, lambda leg_id: PaymentLeg.objects.filter(pk=leg_id)[:2], "leg_id")  # no lock


def lock_split(*, payment_hash: str | None = None, split_id: int | None = None) -> PaymentSplit | None:
    """Lock and return the split (inside ``transaction.atomic``), or None when it does not exist."""
    _require_atomic()
    if payment_hash is not None:
        found = _SPLIT_BY_HASH.fetch_for_write(payment_hash=payment_hash)
    elif split_id is None:  # neither given: nothing to lock (``pk=None`` would match no row either)
        return None
    else:
        found = _SPLIT_BY_ID.fetch_for_write(split_id=split_id)
    return found[0] if found else None


def lock_legs(split: PaymentSplit) -> list[PaymentLeg]:
    """Lock the split's legs in id order. Precondition: the split is locked by this transaction."""
    _require_atomic()
    legs = _LEGS_OF_SPLIT.fetch_for_write(split_id=split.pk)
    for leg in legs:
        leg.split = split  # the locked row itself: an event or a check through leg.split reads nothing again
    return legs


def leg_get(leg_id: int) -> PaymentLeg:
    """``PaymentLeg.objects.get(pk=leg_id)`` with the statement compiled once (the forward reads a leg
    at each of its steps)."""
    found = _ONE_LEG.fetch(leg_id=leg_id)
    if len(found) != 1:
        raise PaymentLeg.DoesNotExist(f"PaymentLeg {leg_id} does not exist.")
    return found[0]


def can_transition_split(current: str, target: str) -> bool:
    return target in SPLIT_TRANSITIONS.get(current, frozenset())


def can_transition_leg(current: str, target: str) -> bool:
    return target in LEG_TRANSITIONS.get(current, frozenset())


# Events recorded inside ``events_batched()``: written together, in one multi-row INSERT, when the
# block ends (per thread / task: a ContextVar, so the web tier's request threads never share one).
# Each with the split's terminal (the live streams' routing).
_BATCH: ContextVar[list[tuple[PaymentEvent, int | None]] | None] = ContextVar("payment_events_batch", default=None)


@contextmanager
def events_batched() -> Iterator[None]:
    """Write the events recorded in the block in ONE INSERT at its end, still inside the caller's
    transaction (so they commit or roll back with the state changes they record, as one by one).
    Only for blocks that do not read ``payment_events`` back: a buffered row is not in the table yet.
    A terminal event's uniqueness is checked by that INSERT, which fails the transaction alike."""
    _require_atomic()
    if _BATCH.get() is not None:  # nested: the outer block writes them
        yield
        return
    batch: list[tuple[PaymentEvent, int | None]] = []
    token = _BATCH.set(batch)
    try:
        yield
    finally:
        _BATCH.reset(token)
    _write_events(batch)


def _write_events(events: list[tuple[PaymentEvent, int | None]]) -> None:
    insert_rows([event for event, _terminal in events])
    for event, terminal_id in events:
        if event.to_status and event.leg_id is None:
            status_change_recorded(payment_hash=event.split_id, terminal_id=terminal_id, event_id=event.pk)


def record_event(
    split: PaymentSplit,
    event_type: str,
    data: Mapping[str, Any] | None = None,
    *,
    leg: PaymentLeg | None = None,
    from_status: str = "",
    to_status: str = "",
) -> PaymentEvent:
    """Append an audit event. Terminal event types are unique per payment (a constraint): a second one
    raises IntegrityError, which inside a transition means a bug, not a retry. A status change of the
    split or of a refund (``to_status`` without a leg) is published to the live streams after commit.
    Inside ``events_batched()`` the row is written at the end of the block (its ``pk`` is set then)."""
    event = PaymentEvent(
        split_id=split.payment_hash,
        leg=leg,
        event_type=event_type,
        event_data=dict(data or {}),
        from_status=from_status,
        to_status=to_status,
        retention_class=retention_class_for(event_type),
    )
    batch = _BATCH.get()
    if batch is not None:
        batch.append((event, split.terminal_id))
    else:
        _write_events([(event, split.terminal_id)])
    return event


def transition_split(
    split: PaymentSplit,
    target: str,
    *,
    event_type: str,
    data: Mapping[str, Any] | None = None,
    **updates: Any,
) -> PaymentSplit:
    """Move a locked split to ``target``, set ``updates`` and append ``event_type``.

    Precondition: inside ``transaction.atomic`` with the split locked by ``lock_split``.
    Side effect: after commit, the hot store is synced.
    """
    _require_atomic()
    current = split.status
    if not can_transition_split(current, target):
        raise IllegalTransition("split", current, target)
    split.status = target
    for name, value in updates.items():
        setattr(split, name, value)
    update_fields(split, ["status", *updates.keys()])
    # Registered first, so it runs first after commit: a client the status streams wake (the publish
    # registered by record_event) and that then polls finds the hot store already in line.
    transaction.on_commit(lambda: store.sync(split))
    record_event(split, event_type, data, from_status=current, to_status=target)
    webhook_outbox.split_changed(split)  # the merchant's webhooks: stored in this transaction
    return split


def transition_leg(
    leg: PaymentLeg,
    target: str,
    *,
    event_type: str | None,
    data: Mapping[str, Any] | None = None,
    **updates: Any,
) -> PaymentLeg:
    """Move a locked leg to ``target`` and append ``event_type`` (when given) on its split's trail.

    Precondition: inside ``transaction.atomic`` with the leg locked by ``lock_legs`` (or a
    conditional claim). ``leg.split`` must be loaded or loadable.
    """
    _require_atomic()
    current = leg.status
    if not can_transition_leg(current, target):
        raise IllegalTransition("leg", current, target)
    leg.status = target
    for name, value in updates.items():
        setattr(leg, name, value)
    update_fields(leg, ["status", "updated_at", *updates.keys()])
    if event_type:
        record_event(
            leg.split, event_type, {"leg_id": leg.pk, **(data or {})}, leg=leg, from_status=current, to_status=target
        )
    webhook_outbox.leg_changed(leg)  # the merchant's webhooks: stored in this transaction
    return leg


def _require_atomic() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("state changes must run inside transaction.atomic()")
