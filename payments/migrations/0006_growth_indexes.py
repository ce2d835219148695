"""Indexes that keep the dashboards' reads under 100 ms at 5 000 000 historical splits (docs/PERFORMANCE.md, growth).

Measured with the bench's history (``bench/growth.py``), EXPLAIN (ANALYZE, BUFFERS) before/after in
docs/PERFORMANCE.md. Each index serves one read that otherwise touches every page holding a row of
the range or merchant:

1. ``idx_split_created_day`` (migration 0002, the ``payment_statistics`` view's day index) gains
   INCLUDE (created_at, status, total_amount, tip_amount): the operators' 14-day chart reads the view
   for two sums and becomes an index-only scan instead of visiting ~190 000 heap rows. Same key and
   name, so every plan that used it still can and 0002's reverse still drops it.
2. ``idx_split_merchant_paid`` (merchant_id, paid_at) INCLUDE (id, total_amount, tip_amount), partial
   on ``paid_at IS NOT NULL``: the merchant dashboard's daily totals and tips by staff filter on
   paid_at, which no index had (they read all of the merchant's splits). Partial, so creating an
   invoice (paid_at is NULL then) does not maintain it; it is written once, when the invoice is paid.
3. ``idx_leg_tip_staff`` (staff_id, split_id) INCLUDE (amount, status), partial on ``kind = 'tip'``:
   tips by staff reads the merchant's staff members' tip legs from the index alone.

The indexes are built CONCURRENTLY (hence ``atomic = False``) so that applying this to a live database
does not block invoice creation while millions of rows are indexed. The models do not declare them:
Django cannot express an INCLUDE on an expression index, and the view index already lives in SQL.
"""

from django.db import migrations

DAY_INDEX_OLD = (
    "CREATE INDEX IF NOT EXISTS idx_split_created_day ON payment_splits (((created_at AT TIME ZONE 'UTC')::date))"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments", "0005_webhook_fast_ack")]

    operations = [
        # Build the covering copy first, then swap names: the view keeps an index at every moment.
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_split_created_day_cover ON payment_splits "
            "(((created_at AT TIME ZONE 'UTC')::date)) INCLUDE (created_at, status, total_amount, tip_amount)",
            "DROP INDEX CONCURRENTLY IF EXISTS idx_split_created_day_cover",
        ),
        migrations.RunSQL(
            "DROP INDEX CONCURRENTLY IF EXISTS idx_split_created_day",
            DAY_INDEX_OLD,
        ),
        migrations.RunSQL(
            "ALTER INDEX idx_split_created_day_cover RENAME TO idx_split_created_day",
            "ALTER INDEX idx_split_created_day RENAME TO idx_split_created_day_cover",
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_split_merchant_paid ON payment_splits (merchant_id, paid_at) "
            "INCLUDE (id, total_amount, tip_amount) WHERE paid_at IS NOT NULL",
            "DROP INDEX CONCURRENTLY IF EXISTS idx_split_merchant_paid",
        ),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_leg_tip_staff ON payment_legs (staff_id, split_id) "
            "INCLUDE (amount, status) WHERE kind = 'tip'",
            "DROP INDEX CONCURRENTLY IF EXISTS idx_leg_tip_staff",
        ),
    ]
