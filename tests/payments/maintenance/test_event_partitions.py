"""``payment_events`` partitioned by retention class and month (migration 0014): where rows land, the
job that creates months ahead, and retention that drops months of non-money events only."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from payments.models import PaymentEvent
from payments.models.events import MONEY_EVENT_TYPES
from payments.services.event_partitions import (
    add_months,
    event_partitions_drop_expired,
    event_partitions_ensure,
    month_start,
    monthly_partitions,
    partition_name,
)
from payments.services.transitions import record_event
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _insert(payment_hash: str, event_type: str, at: datetime, retention_class: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payment_events (payment_hash, event_type, event_data, timestamp, retention_class) "
            "VALUES (%s, %s, '{}', %s, %s)",
            [payment_hash, event_type, at, retention_class],
        )


def _where(event_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM payment_events WHERE id = %s", [event_id])
        return str(cursor.fetchone()[0])


def _count(sql: str, params: list[object]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def test_the_migration_created_this_month_and_three_ahead_for_both_classes() -> None:
    this_month = month_start(timezone.now().astimezone(UTC))
    expected = {add_months(this_month, n) for n in range(4)}
    assert expected <= set(monthly_partitions("money"))
    assert expected <= set(monthly_partitions("ops"))


def test_the_app_writes_money_and_ops_events_into_their_own_months() -> None:
    split = PaymentSplitFactory()
    paid = record_event(split, "paid")
    checked = record_event(split, "status_checked")
    month = month_start(paid.timestamp.astimezone(UTC))

    assert _where(paid.pk) == partition_name("money", month)
    assert _where(checked.pk) == partition_name("ops", month)
    assert PaymentEvent.objects.get(pk=checked.pk).retention_class == "ops"


def test_raw_sql_without_a_class_is_kept_and_a_money_event_can_never_be_ops() -> None:
    split = PaymentSplitFactory()
    with connection.cursor() as cursor:  # the seed's insert, unchanged
        cursor.execute(
            "INSERT INTO payment_events (payment_hash, event_type, event_data) VALUES (%s, 'status_checked', '{}') "
            "RETURNING id",
            [split.payment_hash],
        )
        event_id = cursor.fetchone()[0]
    assert _where(event_id).startswith("payment_events_money_")

    with pytest.raises(IntegrityError, match="payment_events_money_kept"), transaction.atomic():
        _insert(split.payment_hash, "paid", timezone.now(), "ops")


def test_the_once_only_rules_still_hold_on_the_partitioned_table() -> None:
    split = PaymentSplitFactory()
    record_event(split, "completed")
    with pytest.raises(IntegrityError, match="event_terminal_once_per_payment"), transaction.atomic():
        record_event(split, "completed")


def test_the_money_list_in_the_database_is_the_one_in_the_code() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'payment_event_is_money'")
        source = cursor.fetchone()[0]
        cursor.execute("SELECT payment_event_is_money('status_checked')")
        assert cursor.fetchone()[0] is False
    assert set(re.findall(r"'([a-z_]+)'", source)) == set(MONEY_EVENT_TYPES)


def test_the_job_creates_months_ahead_once() -> None:
    later = datetime(2031, 5, 20, tzinfo=UTC)
    first = event_partitions_ensure(now=later, ahead=2)
    again = event_partitions_ensure(now=later, ahead=2)

    assert first.created == 6 and first.failed == []  # three months, two classes
    assert again.created == 0 and again.failed == []
    for month in (date(2031, 5, 1), date(2031, 6, 1), date(2031, 7, 1)):
        assert monthly_partitions("money")[month] == partition_name("money", month)
        assert monthly_partitions("ops")[month] == partition_name("ops", month)


def test_retention_drops_expired_months_of_ops_events_and_nothing_else() -> None:
    # Given an old month (created as the job would have then) with money and ops events in it,
    # ops rows older than any month in the default partition, and recent ops events
    now = timezone.now()
    old = now - timedelta(days=200)
    event_partitions_ensure(now=old, ahead=0)
    old_month = month_start(old.astimezone(UTC))
    split = PaymentSplitFactory()
    _insert(split.payment_hash, "paid", old, "money")
    _insert(split.payment_hash, "status_checked", old, "ops")
    _insert(split.payment_hash, "status_checked", old - timedelta(days=400), "ops")  # → ops default
    _insert(split.payment_hash, "created", old - timedelta(days=400), "money")  # → money default
    record_event(split, "status_checked")  # recent

    # When retention runs with a 90-day cutoff (a dry run first), in its own transaction as beat runs it
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # this test's inserts are not committed
    cutoff = now - timedelta(days=90)
    dry = event_partitions_drop_expired(cutoff=cutoff, dry_run=True)
    assert dry.partitions_dropped == [partition_name("ops", old_month)]
    assert dry.rows_dropped == 2
    assert partition_name("ops", old_month) in monthly_partitions("ops").values()
    result = event_partitions_drop_expired(cutoff=cutoff)

    # Then the old ops month is gone, the money month and every money row stay, recent ops rows stay
    assert result.partitions_dropped == [partition_name("ops", old_month)]
    assert result.rows_dropped == 2
    assert old_month not in monthly_partitions("ops")
    assert old_month in monthly_partitions("money")
    events = PaymentEvent.objects.filter(split=split)
    assert sorted(events.filter(retention_class="money").values_list("event_type", flat=True)) == ["created", "paid"]
    assert list(events.filter(retention_class="ops").values_list("event_type", flat=True)) == ["status_checked"]
    assert _count("SELECT count(*) FROM payment_events_ops_default WHERE payment_hash = %s", [split.payment_hash]) == 0


def test_truncating_the_events_empties_the_once_only_guards() -> None:
    # A guard row left without its event would refuse that event for ever (test databases are reset
    # with TRUNCATE, which knows only Django's tables).
    split = PaymentSplitFactory()
    record_event(split, "paid")
    assert _count("SELECT count(*) FROM payment_event_once WHERE payment_hash = %s", [split.payment_hash]) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE payment_events")
    assert _count("SELECT count(*) FROM payment_event_once WHERE payment_hash = %s", [split.payment_hash]) == 0
    record_event(split, "paid")  # accepted again
