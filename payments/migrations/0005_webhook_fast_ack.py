"""The webhook answers before it acts (docs/PERFORMANCE.md, webhook burst): ``webhook_deliveries`` keeps what the
worker needs to act on a delivery later, and an index for the sweep that recovers a lost publish.

- ``amount_sats``: the delivery's settlementAmount (detection compares it with the split's total).
- ``preimage_verified``: the view checked sha256(preimage) == payment hash. The preimage itself is
  never stored: the boolean is all detection records (``preimage_verified`` in the ``paid`` event).
- ``processed_at``: when the outcome became final (``queued`` rows have none).
- ``webhook_delivery_queued``: partial index on ``received_at`` for ``outcome = 'queued'``, the sweep's
  read. It holds only the deliveries in flight, so it stays small however long the audit trail gets.
- The two ``varchar_pattern_ops`` ("_like") indexes Django adds for ``svix_id`` and ``payment_hash``
  are dropped: nothing searches deliveries with LIKE (the admin searches ``=svix_id`` / ``=payment_hash``,
  served by the unique constraint and the plain index), and every acknowledgement's INSERT and every
  worker's outcome UPDATE (not HOT: ``outcome`` is in the partial index's predicate) paid for them.
  Django re-creates or drops them itself only when those fields are altered, with IF EXISTS.

The index is built CONCURRENTLY (hence ``atomic = False``): on a live database with a long audit trail a
plain CREATE INDEX would block the webhook's INSERTs while it scans the table, and Blink's deliveries
would time out. The three columns are nullable or have a constant default, so adding them is a
catalogue change that does not rewrite the table.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# Django's own names for the pattern-ops indexes of 0001 (derived from table and column, so fixed).
LIKE_INDEXES = {
    "webhook_deliveries_svix_id_e116bb2e_like": "svix_id",
    "webhook_deliveries_payment_hash_1746e350_like": "payment_hash",
}


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("payments", "0004_money_events_and_seed_defaults")]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="amount_sats",
            field=models.BigIntegerField(blank=True, help_text="settlementAmount as delivered", null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="preimage_verified",
            field=models.BooleanField(
                default=False,
                help_text="a preimage came with the delivery and sha256(preimage) == payment_hash",
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="processed_at",
            field=models.DateTimeField(blank=True, help_text="when the outcome became final", null=True),
        ),
        *(
            migrations.RunSQL(
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON webhook_deliveries ({column} varchar_pattern_ops)",
            )
            for name, column in LIKE_INDEXES.items()
        ),
        AddIndexConcurrently(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("outcome", "queued")), fields=["received_at"], name="webhook_delivery_queued"
            ),
        ),
    ]
