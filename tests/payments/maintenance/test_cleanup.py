"""cleanup_old_data: old metrics and non-financial events go, in batches; money rows always stay."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from analytics.models import SystemMetric
from payments.models import IdempotencyRecord, PaymentEvent, PaymentLeg, PaymentSplit, UnmatchedPayment, WebhookDelivery
from payments.models.events import MONEY_EVENT_TYPES, retention_class_for
from payments.models.inbound import DELIVERY_QUEUED
from payments.services.maintenance import old_data_cleanup
from tests.factories import PaymentLegFactory, PaymentSplitFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _insert_event(payment_hash: str, event_type: str, days_old: int) -> None:
    # Events are append-only (UPDATE is refused by a trigger), so an old one is inserted as old, in the
    # retention class the app gives its type.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payment_events "
            "(payment_hash, event_type, event_data, from_status, to_status, timestamp, retention_class) "
            "VALUES (%s, %s, '{}', '', '', %s, %s)",
            [payment_hash, event_type, timezone.now() - timedelta(days=days_old), retention_class_for(event_type)],
        )


@pytest.fixture
def aged_data(settings: object) -> dict[str, int]:
    settings.RETENTION_DAYS_METRICS = 30  # type: ignore[attr-defined]
    settings.RETENTION_DAYS_EVENTS = 90  # type: ignore[attr-defined]
    leg = PaymentLegFactory()
    split = leg.split
    for event_type in MONEY_EVENT_TYPES:
        if event_type in ("created", "paid", "expired", "completed"):  # terminal: once per payment
            _insert_event(split.payment_hash, event_type, days_old=400)
    for event_type in ("leg_sent", "tip_sent", "forwarding_started"):
        _insert_event(split.payment_hash, event_type, days_old=400)
    for _ in range(7):
        _insert_event(split.payment_hash, "status_checked", days_old=120)  # non-financial, old
    for _ in range(2):
        _insert_event(split.payment_hash, "status_checked", days_old=10)  # non-financial, recent
    old = [SystemMetric.objects.create(metric_name="hotstore_hits", metric_value=1) for _ in range(11)]
    SystemMetric.objects.filter(pk__in=[m.pk for m in old]).update(timestamp=timezone.now() - timedelta(days=31))
    for _ in range(3):
        SystemMetric.objects.create(metric_name="hotstore_hits", metric_value=1)
    money = PaymentEvent.objects.filter(event_type__in=MONEY_EVENT_TYPES).count()
    return {"money_events": money, "splits": PaymentSplit.objects.count(), "legs": PaymentLeg.objects.count()}


def _state() -> tuple[int, int, int, int, int]:
    return (
        SystemMetric.objects.count(),
        PaymentEvent.objects.count(),
        PaymentEvent.objects.filter(event_type__in=MONEY_EVENT_TYPES).count(),
        PaymentSplit.objects.count(),
        PaymentLeg.objects.count(),
    )


def test_deletes_old_metrics_and_non_financial_events_only(aged_data: dict[str, int]) -> None:
    result = old_data_cleanup(batch_size=2)
    assert (result.metrics_deleted, result.events_deleted) == (11, 7)
    assert SystemMetric.objects.count() == 3
    assert PaymentEvent.objects.filter(event_type="status_checked").count() == 2
    # every money row kept, however old
    assert PaymentEvent.objects.filter(event_type__in=MONEY_EVENT_TYPES).count() == aged_data["money_events"]
    assert PaymentSplit.objects.count() == aged_data["splits"]
    assert PaymentLeg.objects.count() == aged_data["legs"]


def test_dry_run_counts_and_deletes_nothing(aged_data: dict[str, int]) -> None:
    before = _state()
    out = io.StringIO()
    call_command("cleanup_old_data", "--dry-run", stdout=out)
    assert _state() == before
    text = out.getvalue()
    assert "would delete 11 system metric(s)" in text
    assert "would delete 7 non-financial event(s)" in text


def test_twice_and_concurrently_give_the_same_end_state(aged_data: dict[str, int]) -> None:
    expected_after = (
        3,
        aged_data["money_events"] + 2,
        aged_data["money_events"],
        aged_data["splits"],
        aged_data["legs"],
    )
    results = run_concurrently(lambda: old_data_cleanup(batch_size=3))
    assert sum(r.events_deleted for r in results) == 7
    assert sum(r.metrics_deleted for r in results) == 11
    assert _state() == expected_after
    again = old_data_cleanup()
    assert (again.metrics_deleted, again.events_deleted) == (0, 0)
    assert _state() == expected_after


def test_recent_data_is_untouched() -> None:
    split = PaymentSplitFactory()
    _insert_event(split.payment_hash, "status_checked", days_old=1)
    SystemMetric.objects.create(metric_name="x", metric_value=1)
    result = old_data_cleanup()
    assert (result.metrics_deleted, result.events_deleted) == (0, 0)
    assert PaymentEvent.objects.count() == 1


# --- webhook deliveries and idempotency answers ------------------------------------------------------


@pytest.fixture
def aged_inbound(settings: object) -> dict[str, int]:
    """Deliveries and idempotency answers of several ages and outcomes, beside a split, a leg and an
    unmatched payment that must all survive."""
    settings.RETENTION_DAYS_WEBHOOK_DELIVERIES = 30  # type: ignore[attr-defined]
    settings.RETENTION_DAYS_IDEMPOTENCY_KEYS = 7  # type: ignore[attr-defined]
    leg = PaymentLegFactory()
    merchant = leg.split.merchant
    UnmatchedPayment.objects.create(payment_hash="ab" * 32, amount=500)
    UnmatchedPayment.objects.filter().update(received_at=timezone.now() - timedelta(days=400))

    def delivery(outcome: str, days_old: int) -> None:
        row = WebhookDelivery.objects.create(svix_id=f"msg_{uuid.uuid4().hex}", event_type="receive.lightning",
                                             payment_hash=leg.split.payment_hash, outcome=outcome)  # fmt: skip
        WebhookDelivery.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=days_old))

    for outcome in ("paid", "already_handled", "ignored_event_type", "rejected"):
        delivery(outcome, days_old=45)  # final and old: deleted
    delivery("paid", days_old=5)  # final, recent: kept
    delivery(DELIVERY_QUEUED, days_old=45)  # not acted on yet: kept however old
    for i, days_old in enumerate((12, 9, 8, 1)):
        row = IdempotencyRecord.objects.create(merchant=merchant, key=f"key-{i}", request_fingerprint="f" * 64)
        IdempotencyRecord.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return {"splits": PaymentSplit.objects.count(), "legs": PaymentLeg.objects.count()}


def test_final_old_deliveries_and_old_idempotency_answers_go_queued_and_money_rows_stay(
    aged_inbound: dict[str, int],
) -> None:
    # given old and recent deliveries (one old one still queued) and idempotency answers
    # when the cleanup runs in small batches
    result = old_data_cleanup(batch_size=2)

    # then the four final deliveries older than 30 days and the three answers older than 7 days went
    assert (result.deliveries_deleted, result.idempotency_deleted) == (4, 3)
    assert sorted(WebhookDelivery.objects.values_list("outcome", flat=True)) == ["paid", DELIVERY_QUEUED]
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["key-3"]
    # and no money row was touched
    assert PaymentSplit.objects.count() == aged_inbound["splits"]
    assert PaymentLeg.objects.count() == aged_inbound["legs"]
    assert UnmatchedPayment.objects.count() == 1
    # and a second run finds nothing more
    again = old_data_cleanup()
    assert (again.deliveries_deleted, again.idempotency_deleted) == (0, 0)


def test_delivery_and_idempotency_retention_follow_the_settings(aged_inbound: dict[str, int], settings: object) -> None:
    # given longer retention settings
    settings.RETENTION_DAYS_WEBHOOK_DELIVERIES = 60  # type: ignore[attr-defined]
    settings.RETENTION_DAYS_IDEMPOTENCY_KEYS = 10  # type: ignore[attr-defined]

    # when the command runs dry, then for real
    out = io.StringIO()
    call_command("cleanup_old_data", "--dry-run", stdout=out)
    result = old_data_cleanup()

    # then the dry run said what the real run then did: only the answer older than 10 days goes
    assert "would delete 0 webhook deliveries with a final outcome" in out.getvalue()
    assert "would delete 1 stored idempotency answer(s)" in out.getvalue()
    assert (result.deliveries_deleted, result.idempotency_deleted) == (0, 1)
    assert WebhookDelivery.objects.count() == 6
