"""Read replicas: only reads that show figures may go to a replica, and never a lagging one.

Routing tests run outside the suite's per-test transaction (no ``django_db``): inside a transaction on
the primary every read stays there by design.

The replicas' replay lag is the boundary faked here (``measure_lag``): a real standby is started by
``make cluster``. ``measure_lag`` itself runs against the real primary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction

from blinkpos import db_router
from blinkpos.db_router import ReplicaRouter, read_alias, reads_from_replica, replica_reads
from payments.models import PaymentSplit

ROOT = Path(__file__).resolve().parents[2]


class FakeReplicas:
    """Replica aliases with a lag each (seconds; inf = unreachable) and a controllable monotonic clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lag: dict[str, float] = {}
        self.measured: list[str] = []
        self.now = 1000.0
        monkeypatch.setattr(db_router, "replica_aliases", lambda: list(self.lag))
        monkeypatch.setattr(db_router, "measure_lag", self._measure)
        monkeypatch.setattr(db_router.time, "monotonic", lambda: self.now)

    def _measure(self, alias: str) -> float:
        self.measured.append(alias)
        return self.lag[alias]


@pytest.fixture
def replicas(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[FakeReplicas]:  # type: ignore[no-untyped-def]
    settings.REPLICA_MAX_LAG_SECONDS = 10.0
    settings.REPLICA_LAG_CHECK_SECONDS = 5.0
    db_router.forget_lag_readings()
    yield FakeReplicas(monkeypatch)
    db_router.forget_lag_readings()


@pytest.mark.django_db
def test_lag_of_the_primary_is_zero() -> None:
    # The probe's SQL runs on a real server: a primary is not in recovery, so it is never "behind".
    assert db_router.measure_lag("default") == 0.0


def test_without_replicas_every_read_goes_to_the_primary() -> None:
    assert db_router.replica_aliases() == []
    with replica_reads():
        assert read_alias() == "default"


def test_only_reads_inside_replica_reads_go_to_a_replica(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 0.5}
    router = ReplicaRouter()

    assert router.db_for_read(PaymentSplit) == "default"
    with replica_reads():
        assert router.db_for_read(PaymentSplit) == "replica1"
    assert router.db_for_read(PaymentSplit) == "default"


def test_writes_and_migrations_stay_on_the_primary(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 0.0}
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_write(PaymentSplit) == "default"
    assert router.allow_migrate("default", "payments") is True
    assert router.allow_migrate("replica1", "payments") is False


@pytest.mark.django_db(transaction=True)
def test_reads_inside_a_transaction_on_the_primary_stay_there(replicas: FakeReplicas) -> None:
    # A request that wrote something must read it back, which a lagging replica may not have yet.
    replicas.lag = {"replica1": 0.0}
    with replica_reads(), transaction.atomic():
        assert read_alias() == "default"


def test_a_replica_lagging_beyond_the_limit_is_skipped(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 10.5, "replica2": 2.0}
    with replica_reads():
        assert {read_alias() for _ in range(6)} == {"replica2"}

    replicas.lag = {"replica1": 10.5, "replica2": float("inf")}  # replica2 became unreachable
    replicas.now += 5.0
    with replica_reads():
        assert read_alias() == "default"


def test_healthy_replicas_share_the_reads(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 0.0, "replica2": 3.0}
    with replica_reads():
        assert {read_alias() for _ in range(4)} == {"replica1", "replica2"}


def test_lag_is_measured_once_per_interval(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 0.0}
    with replica_reads():
        for _ in range(20):
            read_alias()
        assert replicas.measured == ["replica1"]

        replicas.lag["replica1"] = 30.0
        replicas.now += 4.9
        assert read_alias() == "replica1"  # the reading is still fresh
        replicas.now += 0.1
        assert read_alias() == "default"  # measured again: now it lags
    assert replicas.measured == ["replica1", "replica1"]


def test_the_view_decorator_routes_the_whole_view(replicas: FakeReplicas) -> None:
    replicas.lag = {"replica1": 0.0}

    @reads_from_replica
    def view() -> str:
        return read_alias()

    assert view() == "replica1"
    assert read_alias() == "default"


def test_report_views_read_from_a_replica_and_money_views_do_not() -> None:
    # The decorator is the whole contract: pages that only show figures opt in, nothing else does.
    from console.views import reports_page
    from dashboard import views_pos, views_reports, views_settings

    for name in ("transactions", "transactions_csv", "tips", "statement", "statement_csv", "report", "charts"):
        assert getattr(getattr(views_reports, name), "reads_from_replica", False), name
    assert getattr(reports_page.report_page, "reads_from_replica", False)
    assert not getattr(views_reports.transaction_detail, "reads_from_replica", False)
    for module in (views_pos, views_settings):
        for name in dir(module):
            assert not getattr(getattr(module, name), "reads_from_replica", False), f"{module.__name__}.{name}"


def test_replica_urls_become_mirrored_aliases() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blinkpos.settings.test"}
    env["DATABASE_REPLICA_URLS"] = "postgres://r@10.0.0.2:5432/app,postgres://r@10.0.0.3:5433/app"
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: [v['HOST'], v['PORT'], v['TEST'].get('MIRROR')] for k, v in s.DATABASES.items()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    aliases = json.loads(result.stdout.strip().splitlines()[-1])
    assert aliases["replica1"] == ["10.0.0.2", 5432, "default"]
    assert aliases["replica2"] == ["10.0.0.3", 5433, "default"]
