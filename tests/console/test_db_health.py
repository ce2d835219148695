"""The database page: catalogue reads only, and a stuck payment found from it to its split, both as an
old open split and as a session idle in a transaction whose last statement names the payment hash."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console import db_health
from payments.models import PaymentSplit, SplitStatus
from tests.database_url import database_url_for_tests
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def idle_transaction() -> Iterator[tuple[psycopg.Connection, str]]:
    """Another session that begins a transaction, reads a payment by its hash and then sits idle."""
    payment_hash = "c0ffee" + "0" * 58
    with psycopg.connect(database_url_for_tests(), application_name="console-test-idle") as other:
        other.execute(f"SELECT 1 AS payment /* {payment_hash} */")
        yield other, payment_hash
        other.rollback()


def test_a_stuck_pending_split_is_linked_from_the_database_page(console_operator: Client) -> None:
    stuck = PaymentSplitFactory(status=SplitStatus.PENDING)
    PaymentSplit.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=2))
    fresh = PaymentSplitFactory(status=SplitStatus.PENDING)

    body = console_operator.get(reverse("admin:console_database")).content.decode()

    assert reverse("admin:payments_paymentsplit_change", args=[stuck.pk]) in body
    assert reverse("admin:payments_paymentsplit_change", args=[fresh.pk]) not in body


def test_an_idle_in_transaction_session_naming_a_payment_links_to_its_split(
    console_operator: Client, idle_transaction: tuple[psycopg.Connection, str]
) -> None:
    _, payment_hash = idle_transaction
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING, payment_hash=payment_hash)

    overview = db_health.overview()

    idle = [r for r in overview["idle_in_transaction"] if r["application_name"] == "console-test-idle"]
    assert len(idle) == 1
    assert idle[0]["split_links"] == [(payment_hash, split.pk)]
    assert idle[0]["transaction_seconds"] >= 0
    body = console_operator.get(reverse("admin:console_database")).content.decode()
    assert "console-test-idle" in body
    assert body.count(reverse("admin:payments_paymentsplit_change", args=[split.pk])) >= 1


def test_the_page_reports_sizes_vacuum_and_the_pool(console_operator: Client) -> None:
    overview = db_health.overview()
    tables = {row["table"]: row for row in overview["tables"]}
    assert "payment_splits" in tables
    assert {"row_estimate", "dead_tuples", "last_autovacuum", "total_size"} <= set(tables["payment_splits"])
    assert overview["by_state"]
    body = console_operator.get(reverse("admin:console_database")).content.decode()
    assert "Connection pool" in body and "payment_splits" in body


def test_slowest_statements_say_why_when_the_extension_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    statements = db_health.statements()
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')")
        installed = cursor.fetchone()[0]
    if installed:
        assert statements["available"] or "cannot be read" in statements["reason"]
    else:
        assert statements == {
            "available": False,
            "reason": "the pg_stat_statements extension is not installed in this database",
        }


def test_the_pages_queries_cannot_write() -> None:
    """Every SQL the page runs goes through the read-only runner: a write slipped into one is refused."""
    from console.readonly import ReadOnlyQueryError, read_only_rows

    with pytest.raises(ReadOnlyQueryError):
        read_only_rows(db_health.CONNECTIONS_BY_STATE.replace("SELECT", "CREATE TABLE console_x AS SELECT", 1))
