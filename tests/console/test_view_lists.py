"""The three SQL views as admin lists: filtered, searched and exported rows are exactly what the SQL
returns for the same condition; rows link to their split or staff; exports are admin-logged; nothing
can be added, changed or deleted."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentSplit, SplitStatus, TipRecipientStats
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _sql(query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return list(cursor.fetchall())


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def splits() -> list[PaymentSplit]:
    made = [
        PaymentSplitFactory(status=SplitStatus.PENDING, username="cafe", tip_recipient="alice"),
        PaymentSplitFactory(status=SplitStatus.PENDING, username="bar", tip_recipient="bob"),
        PaymentSplitFactory(status=SplitStatus.PROCESSING, username="cafe", tip_recipient="bob"),
        PaymentSplitFactory(status=SplitStatus.PAID, username="cafe"),
        PaymentSplitFactory(status=SplitStatus.COMPLETED, username="cafe", tip_amount=40),
        PaymentSplitFactory(status=SplitStatus.EXPIRED, username="bar"),
    ]
    PaymentSplit.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - timedelta(days=3))
    return made


def test_active_payments_filtered_list_and_export_are_the_views_rows(console_operator: Client, splits: list) -> None:
    url = reverse("admin:console_activepayment_changelist")
    export = reverse("admin:console_activepayment_export")

    everything = _csv(console_operator.get(export))
    assert [r["payment_hash"] for r in everything] == [
        row[0] for row in _sql("SELECT payment_hash FROM active_payments ORDER BY created_at, id")
    ]
    assert len(everything) == 4  # completed and expired are not active

    pending = _csv(console_operator.get(export, {"status": "pending"}))
    assert {r["payment_hash"] for r in pending} == {
        row[0] for row in _sql("SELECT payment_hash FROM active_payments WHERE status = 'pending'")
    }
    searched = _csv(console_operator.get(export, {"q": "cafe", "status": "pending"}))
    assert [r["payment_hash"] for r in searched] == [splits[0].payment_hash]

    page = console_operator.get(url, {"status": "pending"})
    body = page.content.decode()
    assert page.status_code == 200
    assert reverse("admin:payments_paymentsplit_change", args=[splits[0].pk]) in body  # each row to its split
    assert splits[2].payment_hash[:16] not in body  # processing: filtered out
    assert reverse("admin:console_activepayment_export") + "?status=pending" in body  # export keeps the filter

    exports = list(LogEntry.objects.order_by("id").values_list("user__username", "change_message"))
    assert exports == [
        ("console-operator", "export: view active_payments (all rows)"),
        ("console-operator", "export: view active_payments (status=pending)"),
        ("console-operator", "export: view active_payments (q=cafe&status=pending)"),
    ]


def test_the_date_hierarchy_narrows_to_a_day(console_operator: Client, splits: list) -> None:
    day = (timezone.now() - timedelta(days=3)).date()
    rows = _csv(
        console_operator.get(
            reverse("admin:console_activepayment_export"),
            {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day},
        )
    )
    assert [r["payment_hash"] for r in rows] == [splits[0].payment_hash]


def test_payment_statistics_export_matches_the_view_and_links_to_the_days_splits(
    console_operator: Client, splits: list
) -> None:
    rows = _csv(console_operator.get(reverse("admin:console_paymentstatistic_export")))
    expected = _sql("SELECT date, total_payments, total_tips FROM payment_statistics ORDER BY date DESC")
    assert [(r["date"], int(r["total_payments"]), int(r["total_tips"])) for r in rows] == [
        (str(d), n, t) for d, n, t in expected
    ]
    body = console_operator.get(reverse("admin:console_paymentstatistic_changelist")).content.decode()
    today = timezone.now().date()
    assert f"created_at__day={today.day}" in body


def test_top_tip_recipients_search_and_export_and_link_to_staff(console_operator: Client) -> None:
    now = timezone.now()
    for name, total, count in (("alice", 900, 3), ("bob", 500, 2), ("carol", 0, 0)):
        TipRecipientStats.objects.create(
            recipient_username=name,
            total_tips_received=total,
            total_tips_count=count,
            first_tip_received_at=now,
            last_tip_received_at=now,
        )
    rows = _csv(console_operator.get(reverse("admin:console_toptiprecipient_export")))
    assert (
        [(r["rank"], r["recipient_username"]) for r in rows]
        == [
            (str(rank), name)
            for name, rank in _sql("SELECT recipient_username, rank FROM top_tip_recipients ORDER BY rank")
        ]
        == [("1", "alice"), ("2", "bob")]
    )
    searched = _csv(console_operator.get(reverse("admin:console_toptiprecipient_export"), {"q": "bob"}))
    assert [r["recipient_username"] for r in searched] == ["bob"]
    body = console_operator.get(reverse("admin:console_toptiprecipient_changelist")).content.decode()
    assert reverse("admin:payments_staff_changelist") + "?q=alice" in body


@pytest.mark.parametrize("model", ["activepayment", "paymentstatistic", "toptiprecipient"])
def test_the_lists_are_read_only(console_operator: Client, model: str) -> None:
    assert console_operator.get(reverse(f"admin:console_{model}_add")).status_code == 403
    body = console_operator.get(reverse(f"admin:console_{model}_changelist")).content.decode()
    assert 'name="action"' not in body  # no delete action either
