"""Two database-level follow-ups.

1. The append-only trigger also protects the forwarding events added with the forwarder
   (``leg_pending``, ``leg_unknown``, ``leg_retry``, ``forwarding_retried``): they record what happened
   to money and an operator's actions, so retention must never delete them.
2. Column defaults in PostgreSQL itself, so the seed system's SQL runs unchanged, e.g.
   ``INSERT INTO payment_events (payment_hash, event_type, event_data) VALUES (...)`` and the seed's
   ``tip_recipient_stats`` upsert, which name only some columns.
"""

from django.db import migrations

MONEY_EVENT_TYPES = (
    "created",
    "paid",
    "paid_late",
    "forwarding_started",
    "leg_invoice_created",
    "leg_sent",
    "leg_succeeded",
    "leg_failed",
    "leg_resolved",
    "leg_pending",
    "leg_unknown",
    "leg_retry",
    "forwarding_retried",
    "tip_sent",
    "forwarding_completed",
    "completed",
    "failed",
    "expired",
    "cancelled",
)


def _append_only_function(types: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{t}'" for t in types)
    return f"""
CREATE OR REPLACE FUNCTION payment_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'payment_events is append-only' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.event_type IN ({listed}) THEN
        RAISE EXCEPTION 'money event % of payment % is never deleted', OLD.event_type, OLD.payment_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;
"""


DEFAULTS_SQL = """
ALTER TABLE payment_events ALTER COLUMN from_status SET DEFAULT '';
ALTER TABLE payment_events ALTER COLUMN to_status SET DEFAULT '';
ALTER TABLE payment_events ALTER COLUMN event_data SET DEFAULT '{}'::jsonb;
ALTER TABLE payment_events ALTER COLUMN timestamp SET DEFAULT NOW();
ALTER TABLE tip_recipient_stats ALTER COLUMN total_tips_received SET DEFAULT 0;
ALTER TABLE tip_recipient_stats ALTER COLUMN total_tips_count SET DEFAULT 0;
ALTER TABLE tip_recipient_stats ALTER COLUMN created_at SET DEFAULT NOW();
ALTER TABLE tip_recipient_stats ALTER COLUMN updated_at SET DEFAULT NOW();
ALTER TABLE system_metrics ALTER COLUMN timestamp SET DEFAULT NOW();
ALTER TABLE system_metrics ALTER COLUMN metric_unit SET DEFAULT '';
ALTER TABLE system_metrics ALTER COLUMN metadata SET DEFAULT '{}'::jsonb;
"""

REVERSE_DEFAULTS_SQL = """
ALTER TABLE payment_events ALTER COLUMN from_status DROP DEFAULT;
ALTER TABLE payment_events ALTER COLUMN to_status DROP DEFAULT;
ALTER TABLE payment_events ALTER COLUMN event_data DROP DEFAULT;
ALTER TABLE payment_events ALTER COLUMN timestamp DROP DEFAULT;
ALTER TABLE tip_recipient_stats ALTER COLUMN total_tips_received DROP DEFAULT;
ALTER TABLE tip_recipient_stats ALTER COLUMN total_tips_count DROP DEFAULT;
ALTER TABLE tip_recipient_stats ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE tip_recipient_stats ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE system_metrics ALTER COLUMN timestamp DROP DEFAULT;
ALTER TABLE system_metrics ALTER COLUMN metric_unit DROP DEFAULT;
ALTER TABLE system_metrics ALTER COLUMN metadata DROP DEFAULT;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0003_payout_queue"),
        ("analytics", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            _append_only_function(MONEY_EVENT_TYPES),
            _append_only_function(MONEY_EVENT_TYPES[:9] + MONEY_EVENT_TYPES[13:]),
        ),
        migrations.RunSQL(DEFAULTS_SQL, REVERSE_DEFAULTS_SQL),
    ]
