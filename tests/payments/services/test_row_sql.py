"""The money path's prebuilt row writes and reads (payments/services/row_sql.py) give exactly what the ORM
gives; events recorded in ``events_batched`` are the same rows, written together at the block's end."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, TipRecipientStats
from payments.services import leg_outcomes
from payments.services.row_sql import insert_rows, update_fields
from payments.services.transitions import (
    events_batched,
    leg_get,
    lock_legs,
    lock_split,
    record_event,
    transition_split,
)
from tests.factories import PaymentLegFactory, PaymentSplitFactory


def _columns(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.django_db
def test_locked_rows_equal_the_orms_rows() -> None:
    split = PaymentSplitFactory(metadata={"k": [1, "two"]})
    legs = [PaymentLegFactory(split=split, recipient_wallet_id=f"w{i}", amount=i + 1) for i in range(2)]
    with transaction.atomic():
        locked = lock_split(split_id=split.pk)
        assert locked is not None
        assert _columns(locked) == _columns(PaymentSplit.objects.get(pk=split.pk))
        assert lock_split(payment_hash=split.payment_hash) is not None
        got = lock_legs(locked)
        assert [_columns(x) for x in got] == [_columns(PaymentLeg.objects.get(pk=x.pk)) for x in legs]
        assert all(not x._state.adding and x._state.db == "default" for x in [locked, *got])
    assert _columns(leg_get(legs[0].pk)) == _columns(PaymentLeg.objects.get(pk=legs[0].pk))
    with pytest.raises(PaymentLeg.DoesNotExist):
        leg_get(-1)


@pytest.mark.django_db
def test_update_fields_writes_what_save_writes() -> None:
    leg = PaymentLegFactory(status=LegStatus.PLANNED)
    before = PaymentLeg.objects.get(pk=leg.pk).updated_at
    leg.status = LegStatus.INVOICE_READY
    leg.payment_request = "lnbc1"
    leg.fee_estimate_sats = 3
    update_fields(leg, ["status", "updated_at", "payment_request", "fee_estimate_sats"])
    stored = PaymentLeg.objects.get(pk=leg.pk)
    assert (stored.status, stored.payment_request, stored.fee_estimate_sats) == (LegStatus.INVOICE_READY, "lnbc1", 3)
    assert stored.updated_at == leg.updated_at > before  # auto_now stamped, as save() does
    leg.attempts = 7  # a field not named is not written
    update_fields(leg, ["status"])
    assert PaymentLeg.objects.get(pk=leg.pk).attempts == 0


@pytest.mark.django_db
def test_update_fields_of_a_missing_row_is_an_error_as_with_save() -> None:
    leg = PaymentLegFactory()
    PaymentLeg.objects.filter(pk=leg.pk).delete()
    with pytest.raises(DatabaseError):
        update_fields(leg, ["status"])


@pytest.mark.django_db
def test_insert_rows_gives_the_rows_create_gives() -> None:
    split = PaymentSplitFactory()
    leg = PaymentLegFactory(split=split)
    made = [
        PaymentEvent(split_id=split.payment_hash, leg=leg if i else None, event_type=f"e{i}", event_data={"i": i})
        for i in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        insert_rows(made)
    assert len(queries) == 1
    reference = PaymentEvent.objects.create(split_id=split.payment_hash, event_type="ref", event_data={"i": 9})
    stored = {e.pk: e for e in PaymentEvent.objects.filter(split_id=split.payment_hash)}
    for event in [*made, reference]:
        assert model_to_dict(stored[event.pk]) == model_to_dict(event)
        assert stored[event.pk].timestamp == event.timestamp  # auto_now_add, as create() sets it
    assert [e.event_type for e in sorted(made, key=lambda e: e.pk)] == ["e0", "e1", "e2"]


@pytest.mark.django_db
def test_batched_events_are_written_in_one_insert_at_the_end_of_the_block(
    django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[dict[str, Any]] = []
    monkeypatch.setattr("payments.services.transitions.status_change_recorded", lambda **kw: published.append(kw))
    split = PaymentSplitFactory(status=SplitStatus.PAID)
    leg = PaymentLegFactory(split=split)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = lock_split(split_id=split.pk)
        assert locked is not None
        with CaptureQueriesContext(connection) as queries, events_batched():
            transition_split(locked, SplitStatus.PROCESSING, event_type="forwarding_started", data={"legs": 1})
            with events_batched():  # nested: the outer block writes
                record_event(locked, "tip_sent", {"amount": 5}, leg=leg)
            assert not PaymentEvent.objects.filter(split_id=split.payment_hash).exists()
        inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "payment_events"')]
        assert len(inserts) == 1
    rows = list(PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk"))
    assert [(r.event_type, r.event_data, r.leg_id, r.from_status, r.to_status) for r in rows] == [
        ("forwarding_started", {"legs": 1}, None, SplitStatus.PAID, SplitStatus.PROCESSING),
        ("tip_sent", {"amount": 5}, leg.pk, "", ""),
    ]
    # the split's status change (not the leg's event) is published, with the row's id
    assert published == [{"payment_hash": split.payment_hash, "terminal_id": split.terminal_id, "event_id": rows[0].pk}]


@pytest.mark.django_db
def test_a_failing_batched_block_writes_no_event() -> None:
    split = PaymentSplitFactory()
    with pytest.raises(RuntimeError), transaction.atomic(), events_batched():
        record_event(split, "status_changed", {})
        raise RuntimeError("boom")
    assert not PaymentEvent.objects.filter(split_id=split.payment_hash).exists()
    written = PaymentEvent.objects.count()  # the ContextVar was reset: writes are direct again
    with transaction.atomic():
        record_event(split, "status_changed", {})
    assert PaymentEvent.objects.count() == written + 1


@pytest.mark.django_db
def test_tip_stats_upsert_counts_and_rounds_the_average_as_before() -> None:
    when = timezone.now()
    leg = PaymentLeg(recipient_username="stats_upsert", amount=1)
    with transaction.atomic():
        leg_outcomes._stats_add(leg, when)
    row = TipRecipientStats.objects.get(recipient_username="stats_upsert")
    assert (row.total_tips_received, row.total_tips_count, row.average_tip_amount) == (1, 1, Decimal("1.00"))
    assert row.first_tip_received_at == row.last_tip_received_at == when
    earlier = when - timedelta(days=1)
    with transaction.atomic():
        for _ in range(7):  # 1 sat over 8 tips: 0.125, which Decimal rounds half-even to 0.12
            leg_outcomes._stats_add(PaymentLeg(recipient_username="stats_upsert", amount=0), earlier)
    row.refresh_from_db()
    assert (row.total_tips_received, row.total_tips_count, row.average_tip_amount) == (1, 8, Decimal("0.12"))
    assert (row.first_tip_received_at, row.last_tip_received_at) == (earlier, when)
