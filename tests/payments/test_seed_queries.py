"""The operators' SQL from seed 002 runs unchanged against the migrated schema and returns the right numbers.

The queries are copied verbatim (only the seed's ``tip_recipients_stats`` table name is ours:
``tip_recipient_stats``); rows are seeded through the ORM, read back through ``connection.cursor()``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from payments.models import PaymentEvent, PaymentSplit, SplitStatus, TipRecipientStats
from payments.services.transitions import record_event
from tests.factories import MerchantFactory, PaymentSplitFactory

pytestmark = pytest.mark.django_db

PENDING_SQL = "SELECT payment_hash, tip_amount, created_at FROM payment_splits WHERE status='pending'"

USER_HISTORY_SQL = """
SELECT payment_hash, total_amount, base_amount, tip_amount, tip_recipient, status, created_at
FROM payment_splits
WHERE user_wallet_id = %s
ORDER BY created_at DESC
"""

AUDIT_TRAIL_SQL = """
SELECT event_type, event_data, timestamp
FROM payment_events
WHERE payment_hash = %s
ORDER BY timestamp
"""

# seed 002, HybridTipStore.getStats()
STATS_24H_SQL = """
        SELECT 
          COUNT(*) FILTER (WHERE status = 'pending') as pending_count,
          COUNT(*) FILTER (WHERE status = 'processing') as processing_count,
          COUNT(*) FILTER (WHERE status = 'completed') as completed_count,
          COUNT(*) FILTER (WHERE status = 'failed') as failed_count,
          SUM(tip_amount) FILTER (WHERE status = 'completed') as total_tips_processed
        FROM payment_splits
        WHERE created_at > NOW() - INTERVAL '24 hours'
"""  # noqa: W291 (trailing space kept: the query is the seed's, verbatim)

# seed 002, archive step, verbatim but for the table name: the seed's is tip_recipients_stats, ours
# tip_recipient_stats. It names only some columns; database defaults (migration 0004) fill the rest.
STATS_UPSERT_SQL = """
              INSERT INTO tip_recipient_stats
                (recipient_username, total_tips_received, total_tips_count,
                 first_tip_received_at, last_tip_received_at)
              VALUES (%s, %s, 1, NOW(), NOW())
              ON CONFLICT (recipient_username) DO UPDATE SET
                total_tips_received = tip_recipient_stats.total_tips_received + %s,
                total_tips_count = tip_recipient_stats.total_tips_count + 1,
                last_tip_received_at = NOW(),
                updated_at = NOW()
"""


def _rows(sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        names = [col.name for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _split(*, age: timedelta = timedelta(minutes=5), **fields: Any) -> PaymentSplit:
    split = PaymentSplitFactory(**fields)
    # created_at is auto_now_add; move it back to give the rows a known order and age
    PaymentSplit.objects.filter(pk=split.pk).update(created_at=timezone.now() - age)
    split.refresh_from_db()
    return split


@pytest.fixture
def seeded() -> dict[str, PaymentSplit]:
    merchant = MerchantFactory()
    other = MerchantFactory()
    return {
        "pending_a": _split(
            merchant=merchant, base_amount=1_000, tip_amount=100, status="pending", age=timedelta(hours=1)
        ),
        "pending_b": _split(merchant=other, base_amount=500, tip_amount=0, status="pending", age=timedelta(hours=2)),
        "processing": _split(
            merchant=merchant, base_amount=2_000, tip_amount=300, status="processing", age=timedelta(minutes=10)
        ),
        "completed_a": _split(
            merchant=merchant,
            base_amount=4_000,
            tip_amount=600,
            tip_percent=Decimal("15"),
            tip_recipient="alice",
            status="completed",
            age=timedelta(hours=3),
        ),
        "completed_b": _split(
            merchant=other,
            base_amount=1_000,
            tip_amount=200,
            tip_percent=Decimal("20"),
            tip_recipient="bob",
            status="completed",
            age=timedelta(hours=4),
        ),
        "failed": _split(merchant=merchant, base_amount=700, tip_amount=70, status="failed", age=timedelta(minutes=20)),
        "expired": _split(merchant=other, base_amount=300, tip_amount=30, status="expired"),
        # older than 24 h: outside the seed's window and not "today"
        "old_completed": _split(
            merchant=merchant, base_amount=9_000, tip_amount=900, status="completed", age=timedelta(days=2)
        ),
    }


def test_pending_payments_query(seeded: dict[str, PaymentSplit]) -> None:
    rows = _rows(PENDING_SQL)
    got = {r["payment_hash"]: r["tip_amount"] for r in rows}
    assert got == {seeded["pending_a"].payment_hash: 100, seeded["pending_b"].payment_hash: 0}
    assert all(r["created_at"] is not None for r in rows)


def test_user_history_query(seeded: dict[str, PaymentSplit]) -> None:
    wallet = seeded["pending_a"].user_wallet_id

    rows = _rows(USER_HISTORY_SQL, [wallet])

    expected_order = ["processing", "failed", "pending_a", "completed_a", "old_completed"]
    assert [r["payment_hash"] for r in rows] == [seeded[name].payment_hash for name in expected_order]
    first_completed = rows[3]
    assert (
        first_completed["total_amount"],
        first_completed["base_amount"],
        first_completed["tip_amount"],
        first_completed["tip_recipient"],
        first_completed["status"],
    ) == (4_600, 4_000, 600, "alice", "completed")
    assert all(r["total_amount"] == r["base_amount"] + r["tip_amount"] for r in rows)


def test_audit_trail_query() -> None:
    split = PaymentSplitFactory()
    other = PaymentSplitFactory()
    record_event(split, "created", {"amount": 1150})
    record_event(other, "created", {"amount": 1})
    record_event(split, "paid", {"received": 1150}, from_status="pending", to_status="paid")
    record_event(split, "forwarding_started")
    record_event(split, "completed", {"legs": 2})

    rows = _rows(AUDIT_TRAIL_SQL, [split.payment_hash])

    assert [r["event_type"] for r in rows] == ["created", "paid", "forwarding_started", "completed"]
    # event_data is JSONB; Django's raw cursor hands it back as JSON text (as psql shows it)
    data = [json.loads(r["event_data"]) if isinstance(r["event_data"], str) else r["event_data"] for r in rows]
    assert data == [{"amount": 1150}, {"received": 1150}, {}, {"legs": 2}]
    # and it is a real JSONB column: operators' JSON operators work on it
    jsonb = (
        "SELECT event_data->>'amount' AS amount FROM payment_events WHERE payment_hash = %s AND event_type = 'created'"
    )
    assert _rows(jsonb, [split.payment_hash]) == [{"amount": "1150"}]
    timestamps = [r["timestamp"] for r in rows]
    assert timestamps == sorted(timestamps)


def test_seed_24h_statistics_query(seeded: dict[str, PaymentSplit]) -> None:
    (row,) = _rows(STATS_24H_SQL)
    assert row == {
        "pending_count": 2,
        "processing_count": 1,
        "completed_count": 2,
        "failed_count": 1,
        "total_tips_processed": 800,  # 600 + 200; the two-day-old completion is outside the window
    }


def test_seed_24h_statistics_query_on_an_empty_table() -> None:
    (row,) = _rows(STATS_24H_SQL)
    assert row["pending_count"] == 0
    assert row["total_tips_processed"] is None  # SUM over no rows, as in the seed


def test_payment_statistics_view_for_today(seeded: dict[str, PaymentSplit]) -> None:
    today_utc = timezone.now().date()
    seeded_today = [s for s in seeded.values() if s.created_at.date() == today_utc]
    # close to midnight UTC some of the seeded rows fall on yesterday; compare with what's really today
    by_status = {status: [s for s in seeded_today if s.status == status] for status in SplitStatus.values}

    rows = _rows("SELECT * FROM payment_statistics WHERE date = CURRENT_DATE")

    assert len(rows) == 1
    row = rows[0]
    assert row["date"] == today_utc
    assert row["total_payments"] == len(seeded_today)
    assert row["completed_payments"] == len(by_status["completed"])
    assert row["pending_payments"] == len(by_status["pending"])
    assert row["processing_payments"] == len(by_status["paid"]) + len(by_status["processing"])
    assert row["failed_payments"] == len(by_status["failed"])
    assert row["expired_payments"] == len(by_status["expired"])
    assert row["total_volume"] == sum(s.total_amount for s in by_status["completed"])
    assert row["total_base"] == sum(s.base_amount for s in by_status["completed"])
    assert row["total_tips"] == sum(s.tip_amount for s in by_status["completed"])
    tipped = [s.tip_percent for s in seeded_today if s.tip_amount > 0 and s.tip_percent is not None]
    expected_avg = round(sum(tipped, Decimal(0)) / len(tipped), 2) if tipped else None
    assert row["average_tip_percent"] == expected_avg
    assert row["unique_tip_recipients"] == len({s.tip_recipient for s in seeded_today if s.tip_recipient})


def test_payment_statistics_view_exact_numbers() -> None:
    """Rows created now are always today: the view's numbers, exactly."""
    merchant = MerchantFactory()
    PaymentSplitFactory(merchant=merchant, base_amount=1_000, tip_amount=100, tip_percent=Decimal("10"))
    PaymentSplitFactory(
        merchant=merchant,
        base_amount=2_000,
        tip_amount=500,
        tip_percent=Decimal("25"),
        tip_recipient="alice",
        status="completed",
    )
    PaymentSplitFactory(
        merchant=merchant,
        base_amount=3_000,
        tip_amount=0,
        tip_percent=Decimal("0"),
        tip_recipient="alice",
        status="completed",
    )
    PaymentSplitFactory(merchant=merchant, base_amount=10, tip_amount=1, status="paid", tip_recipient="bob")

    (row,) = _rows("SELECT * FROM payment_statistics WHERE date = CURRENT_DATE")

    assert row["total_payments"] == 4
    assert row["completed_payments"] == 2
    assert row["pending_payments"] == 1
    assert row["processing_payments"] == 1
    assert (row["total_volume"], row["total_base"], row["total_tips"]) == (5_500, 5_000, 500)
    assert row["average_tip_percent"] == Decimal("17.50")  # (10 + 25) / 2; untipped and NULL percents excluded
    assert row["unique_tip_recipients"] == 2


def test_active_payments_view(seeded: dict[str, PaymentSplit]) -> None:
    rows = _rows("SELECT * FROM active_payments")

    by_hash = {r["payment_hash"]: r for r in rows}
    active = {"pending_a", "pending_b", "processing"}
    assert set(by_hash) == {seeded[name].payment_hash for name in active}
    pending_a = by_hash[seeded["pending_a"].payment_hash]
    assert (pending_a["total_amount"], pending_a["base_amount"], pending_a["tip_amount"]) == (1_100, 1_000, 100)
    assert pending_a["status"] == "pending"
    assert 3_590 <= pending_a["age_seconds"] <= 3_700  # created an hour ago


def test_top_tip_recipients_view() -> None:
    now = timezone.now()
    for username, total, count in [("carol", 500, 2), ("alice", 9_000, 10), ("bob", 1_200, 3), ("idle", 0, 0)]:
        TipRecipientStats.objects.create(
            recipient_username=username,
            total_tips_received=total,
            total_tips_count=count,
            average_tip_amount=Decimal(total) / count if count else None,
            first_tip_received_at=now - timedelta(days=3) if count else None,
            last_tip_received_at=now if count else None,
        )

    rows = _rows("SELECT * FROM top_tip_recipients")

    assert [(r["recipient_username"], r["total_tips_received"], r["rank"]) for r in rows] == [
        ("alice", 9_000, 1),
        ("bob", 1_200, 2),
        ("carol", 500, 3),
    ]
    assert rows[0]["total_tips_count"] == 10
    assert rows[0]["average_tip_amount"] == Decimal("900.00")


def test_seed_stats_upsert() -> None:
    _execute(STATS_UPSERT_SQL, ["alice", 150, 150])
    _execute(STATS_UPSERT_SQL, ["alice", 250, 250])
    _execute(STATS_UPSERT_SQL, ["bob", 40, 40])

    alice = TipRecipientStats.objects.get(recipient_username="alice")
    bob = TipRecipientStats.objects.get(recipient_username="bob")
    assert (alice.total_tips_received, alice.total_tips_count) == (400, 2)
    assert (bob.total_tips_received, bob.total_tips_count) == (40, 1)
    assert alice.first_tip_received_at is not None
    assert alice.last_tip_received_at is not None
    assert alice.first_tip_received_at <= alice.last_tip_received_at
    assert [r["recipient_username"] for r in _rows("SELECT * FROM top_tip_recipients")] == ["alice", "bob"]


def _execute(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# seed 002, storeTipData / removeTipData: the audit insert names three columns only.
SEED_EVENT_INSERT_SQL = """
            INSERT INTO payment_events (payment_hash, event_type, event_data)
            VALUES (%s, %s, %s)
"""


def test_seed_event_insert_runs_unchanged() -> None:
    split = _split()

    _execute(SEED_EVENT_INSERT_SQL, [split.payment_hash, "note", '{"source": "seed tooling"}'])

    event = PaymentEvent.objects.get(split_id=split.payment_hash, event_type="note")
    assert event.event_data == {"source": "seed tooling"}
    assert (event.from_status, event.to_status) == ("", "")
    assert event.timestamp is not None


# The columns a row must name (NOT NULL, no database default) as the schema stood when operators' and the
# benchmark's raw SQL inserts were written. A column added since then needs a database default
# (``db_default``), or those inserts break: this list only changes with a reason.
REQUIRED_COLUMNS = {
    "merchants": {
        "blink_api_key_encrypted", "blink_api_key_scopes", "blink_username", "created_at", "display_currency",
        "is_active", "name", "tip_presets", "updated_at", "wallet_check_error", "wallet_check_ok", "wallet_id",
    },
    "staff_members": {
        "blink_username", "created_at", "display_name", "is_active", "merchant_id", "wallet_check_error",
        "wallet_check_ok", "wallet_id",
    },
    "payment_splits": {
        "base_amount", "created_at", "display_currency", "error_message", "expires_at", "external_id", "memo",
        "merchant_id", "metadata", "payment_hash", "payment_request", "status", "tip_amount", "tip_payment_hash",
        "tip_recipient", "total_amount", "user_api_key_encrypted", "user_payment_hash", "user_wallet_id", "username",
    },
    "payment_legs": {
        "amount", "attempts", "created_at", "external_id", "kind", "last_error", "last_error_code",
        "payment_request", "preimage", "recipient_username", "recipient_wallet_id", "resolution_note", "split_id",
        "status", "updated_at",
    },
}  # fmt: skip


def test_columns_added_since_the_seed_schema_have_database_defaults() -> None:
    # given the migrated schema
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ANY(%s)
               AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'
            """,
            [list(REQUIRED_COLUMNS)],
        )
        required: dict[str, set[str]] = {}
        for table, column in cursor.fetchall():
            required.setdefault(table, set()).add(column)

    # then raw inserts naming the original columns still work
    assert required == REQUIRED_COLUMNS
