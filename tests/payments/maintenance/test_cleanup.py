"""cleanup_old_data: old metrics and non-financial events go, in batches; money rows always stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from analytics.models import SystemMetric
from payments.models import PaymentEvent, PaymentLeg, PaymentSplit
from payments.models.events import MONEY_EVENT_TYPES
from payments.services.maintenance import old_data_cleanup
from tests.factories import PaymentLegFactory, PaymentSplitFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


def _insert_event(payment_hash: str, event_type: str, days_old: int) -> None:
    # Events are append-only (UPDATE is refused by a trigger), so an old one is inserted as old.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO payment_events (payment_hash, event_type, event_data, from_status, to_status, timestamp) "
            "VALUES (%s, %s, '{}', '', '', %s)",
            [payment_hash, event_type, timezone.now() - timedelta(days=days_old)],
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
