"""What a status stream sends, read from PostgreSQL (the truth; the hot store may lag the commit).

A stream event is one status change: a ``payment_events`` row with a ``to_status`` and no leg (the
split's own transitions and its refunds'). Its row id is the SSE ``id``: a number from one PostgreSQL
sequence, and for ONE invoice increasing in commit order, because every change of a split (and of its
refunds) takes the split's row lock before writing its event. Resuming an invoice's stream is therefore
exactly "the changes with a larger id". Across a terminal's invoices the ids of two concurrent
transactions can commit out of order, so a terminal's resume also re-reads a short window before the
client's last event (``TERMINAL_RESUME_GRACE``): a change may then arrive twice, never not at all.

Everything here is synchronous ORM code; the async views call it through ``sync_to_async``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from payments import store
from payments.api.status_payload import status_body
from payments.models import PaymentEvent, PaymentSplit, Refund, RefundStatus, SplitStatus

# ``forwarding_completed`` is the split's transition to completed; ``completed`` repeats it for the
# Node-era event names (payments/services/leg_outcomes.py): one event on the stream, not two.
_REPEATED = ("completed",)
FINAL_SPLIT_STATUSES = frozenset(
    {SplitStatus.COMPLETED, SplitStatus.EXPIRED, SplitStatus.CANCELLED, SplitStatus.FAILED}
)
OPEN_REFUND_STATUSES = (RefundStatus.AWAITING_FUNDING, RefundStatus.FUNDED, RefundStatus.PAYING)
TERMINAL_RESUME_GRACE = timedelta(seconds=10)
BATCH = 200  # changes read per query; a stream reads again until it has them all


@dataclass(frozen=True, slots=True)
class Change:
    id: int  # payment_events.id: the SSE id
    payment_hash: str
    name: str  # the SSE event name: the split's new status, or ``refund_<status>``


@dataclass(frozen=True, slots=True)
class InvoiceState:
    body: dict[str, Any]  # exactly what GET /api/v1/invoices/{hash} answers
    ended: bool  # final status and no refund open: the invoice's stream closes after sending


def _changes() -> QuerySet[PaymentEvent]:
    return (
        PaymentEvent.objects.exclude(to_status="")
        .filter(leg__isnull=True)
        .exclude(event_type__in=_REPEATED)
        .order_by("id")
    )


def _as_changes(rows: QuerySet[PaymentEvent]) -> list[Change]:
    fields = ("id", "split_id", "to_status", "event_data__refund_id")
    return [
        Change(pk, payment_hash, f"refund_{to_status}" if refund_id is not None else to_status)
        for pk, payment_hash, to_status, refund_id in rows.values_list(*fields)[:BATCH]
    ]


def invoice_changes(*, payment_hash: str, after_id: int) -> list[Change]:
    """The invoice's status changes after ``after_id``, oldest first (at most ``BATCH``)."""
    return _as_changes(_changes().filter(split__payment_hash=payment_hash, id__gt=after_id))


def invoice_last_change_id(*, payment_hash: str) -> int:
    last = _changes().filter(split__payment_hash=payment_hash).order_by("-id").values_list("id", flat=True).first()
    return int(last or 0)


def invoice_state(*, payment_hash: str, merchant_id: int) -> InvoiceState | None:
    """The invoice's status as the status endpoint shows it, read from PostgreSQL; None when it is not
    this merchant's (the same 404 as the status endpoint)."""
    split = PaymentSplit.objects.filter(payment_hash=payment_hash, merchant_id=merchant_id).first()
    if split is None:
        return None
    ended = split.status in FINAL_SPLIT_STATUSES and not (
        Refund.objects.filter(split_id=split.pk, status__in=OPEN_REFUND_STATUSES).exists()
    )
    return InvoiceState(body=status_body(store.snapshot(split)), ended=ended)


def event_time(*, event_id: int) -> datetime | None:
    """When change ``event_id`` was written (None: unknown id, or dropped by retention)."""
    return PaymentEvent.objects.filter(pk=event_id).values_list("timestamp", flat=True).first()


def terminal_changes(*, terminal_id: int, since: datetime, after_id: int = 0) -> list[Change]:
    """Changes of the terminal's invoices written since ``since``, oldest first, from ``after_id`` on
    (at most ``BATCH``: the caller pages with the last id it got). The window may repeat changes a
    resuming client has; the caller skips those it knows per invoice."""
    rows = _changes().filter(split__terminal_id=terminal_id, timestamp__gte=since, id__gt=after_id)
    return _as_changes(rows)


@contextlib.contextmanager
def one_snapshot() -> Iterator[None]:
    """Read the changes and the state from ONE snapshot (REPEATABLE READ, read only): a change
    committed between two statements would otherwise be sent with the state from before it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def latest_event_id() -> int:
    """The audit trail's newest id (its sequence): where a fresh terminal stream starts."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM payment_events_id")
        row = cursor.fetchone()
    return int(row[0]) if row else 0
