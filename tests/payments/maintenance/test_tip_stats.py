"""Tip recipient stats: verified against succeeded tip legs, drift repaired once, kept in PostgreSQL only."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_redis import get_redis_connection

from analytics.models import SystemMetric
from analytics.services.metrics import stats_refresh_record
from payments.models import LegStatus, TipRecipientStats
from payments.services.tip_stats import tip_stats_refresh
from tests.factories import PaymentLegFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def legs() -> dict[str, object]:
    t0 = timezone.now() - timedelta(days=2)
    for i, amount in enumerate((100, 250, 333)):
        PaymentLegFactory(
            kind="tip",
            recipient_username="alice",
            amount=amount,
            status=LegStatus.SUCCEEDED,
            succeeded_at=t0 + timedelta(hours=i),
        )
    PaymentLegFactory(kind="tip", recipient_username="bob", amount=50, status=LegStatus.SUCCEEDED, succeeded_at=t0)
    # Not counted: a tip leg not (yet) succeeded, and a merchant leg.
    PaymentLegFactory(kind="tip", recipient_username="alice", amount=999, status=LegStatus.UNKNOWN)
    PaymentLegFactory(kind="merchant", recipient_username="alice", amount=777, status=LegStatus.SUCCEEDED)
    # Drift: alice's row missed a tip, carol's row has tips no leg backs, bob has no row at all.
    TipRecipientStats.objects.create(recipient_username="alice", total_tips_received=350, total_tips_count=2)
    TipRecipientStats.objects.create(recipient_username="carol", total_tips_received=10, total_tips_count=1)
    return {"t0": t0}


def _rows() -> dict[str, tuple[int, int, Decimal | None]]:
    return {
        r.recipient_username: (r.total_tips_received, r.total_tips_count, r.average_tip_amount)
        for r in TipRecipientStats.objects.all()
    }


def test_refresh_repairs_drift_from_the_legs(legs: dict[str, object]) -> None:
    result = tip_stats_refresh()
    assert result.recipients == 3
    assert sorted(r.username for r in result.repairs) == ["alice", "bob", "carol"]
    assert _rows() == {
        "alice": (683, 3, Decimal("227.67")),
        "bob": (50, 1, Decimal("50.00")),
        "carol": (0, 0, None),
    }
    alice = TipRecipientStats.objects.get(recipient_username="alice")
    assert alice.first_tip_received_at == legs["t0"]
    assert alice.last_tip_received_at == legs["t0"] + timedelta(hours=2)  # type: ignore[operator]


def test_verify_only_reports(legs: dict[str, object]) -> None:
    before = _rows()
    out = io.StringIO()
    call_command("update_tip_recipient_stats", "--verify", stdout=out)
    assert _rows() == before
    assert "drifted: 3" in out.getvalue()


def test_rebuild_command_prints_repairs(legs: dict[str, object]) -> None:
    out = io.StringIO()
    call_command("update_tip_recipient_stats", "--rebuild", stdout=out)
    assert "repaired: 3" in out.getvalue()
    assert "@alice: total 350 -> 683 sats, count 2 -> 3" in out.getvalue()


def test_scheduled_refresh_records_repairs_once_twice_and_concurrently(legs: dict[str, object]) -> None:
    results = run_concurrently(stats_refresh_record)
    assert sum(r.repaired for r in results) == 3  # each drifted row repaired by exactly one run
    state = _rows()
    again = stats_refresh_record()
    assert again.repaired == 0
    assert _rows() == state
    recorded = SystemMetric.objects.filter(metric_name="stats_repaired")
    assert sum(int(m.metric_value or 0) for m in recorded) == 3
    usernames = sorted(r["username"] for m in recorded for r in m.metadata["repairs"])
    assert usernames == ["alice", "bob", "carol"]


def test_refresh_keeps_the_figures_in_postgresql_only(legs: dict[str, object]) -> None:
    result = tip_stats_refresh()
    assert result.repaired == 3
    # Nothing reads a Redis copy of these figures, so the refresh writes none.
    assert list(get_redis_connection("default").scan_iter("stats:*")) == []


def test_refresh_command_via_analytics(legs: dict[str, object]) -> None:
    out = io.StringIO()
    call_command("refresh_stats", stdout=out)
    assert "repaired: 3" in out.getvalue()
    assert SystemMetric.objects.filter(metric_name="stats_repaired").count() == 1
