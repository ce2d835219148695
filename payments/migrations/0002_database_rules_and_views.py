"""Rules PostgreSQL enforces that a CHECK constraint cannot express, and the seed's reporting views.

- Split-profile weights sum to 10 000 basis points: a deferred constraint trigger, checked at commit,
  so a profile's shares can be rewritten inside one transaction.
- ``payment_events`` is append-only: UPDATE is refused, DELETE only for non-financial events
  (retention cleanup).
- Views ``active_payments``, ``payment_statistics`` and ``top_tip_recipients`` for operators' SQL and
  the admin.
"""

from django.db import migrations

# Frozen here (migrations must not follow later code changes); 0004 extends the list.
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
    "tip_sent",
    "forwarding_completed",
    "completed",
    "failed",
    "expired",
    "cancelled",
)

_MONEY_TYPES_SQL = ", ".join(f"'{t}'" for t in MONEY_EVENT_TYPES)

WEIGHTS_SQL = """
CREATE OR REPLACE FUNCTION check_split_profile_weights() RETURNS trigger AS $$
DECLARE
    pid bigint;
    total bigint;
    n integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        pid := OLD.profile_id;
    ELSE
        pid := NEW.profile_id;
    END IF;
    SELECT COALESCE(SUM(weight_bps), 0), COUNT(*) INTO total, n
      FROM split_profile_shares WHERE profile_id = pid;
    IF n > 0 AND total <> 10000 THEN
        RAISE EXCEPTION 'split profile % weights sum to % basis points, not 10000', pid, total
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.profile_id <> NEW.profile_id THEN
        SELECT COALESCE(SUM(weight_bps), 0), COUNT(*) INTO total, n
          FROM split_profile_shares WHERE profile_id = OLD.profile_id;
        IF n > 0 AND total <> 10000 THEN
            RAISE EXCEPTION 'split profile % weights sum to % basis points, not 10000', OLD.profile_id, total
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER split_profile_weights_sum
    AFTER INSERT OR UPDATE OR DELETE ON split_profile_shares
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION check_split_profile_weights();
"""

APPEND_ONLY_SQL = f"""
CREATE OR REPLACE FUNCTION payment_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'payment_events is append-only' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.event_type IN ({_MONEY_TYPES_SQL}) THEN
        RAISE EXCEPTION 'money event % of payment % is never deleted', OLD.event_type, OLD.payment_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER payment_events_append_only
    BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payment_events_append_only();
"""

VIEWS_SQL = """
CREATE INDEX IF NOT EXISTS idx_split_created_day ON payment_splits (((created_at AT TIME ZONE 'UTC')::date));

CREATE OR REPLACE VIEW active_payments AS
SELECT s.id, s.payment_hash, s.merchant_id, s.username, s.user_wallet_id,
       s.total_amount, s.base_amount, s.tip_amount, s.tip_percent, s.tip_recipient,
       s.display_currency, s.status, s.created_at, s.expires_at, s.paid_at,
       EXTRACT(EPOCH FROM (NOW() - s.created_at))::bigint AS age_seconds
  FROM payment_splits s
 WHERE s.status IN ('pending', 'paid', 'processing');

CREATE OR REPLACE VIEW payment_statistics AS
SELECT (s.created_at AT TIME ZONE 'UTC')::date AS date,
       COUNT(*) AS total_payments,
       COUNT(*) FILTER (WHERE s.status = 'completed') AS completed_payments,
       COUNT(*) FILTER (WHERE s.status = 'pending') AS pending_payments,
       COUNT(*) FILTER (WHERE s.status IN ('paid', 'processing')) AS processing_payments,
       COUNT(*) FILTER (WHERE s.status = 'failed') AS failed_payments,
       COUNT(*) FILTER (WHERE s.status = 'expired') AS expired_payments,
       COALESCE(SUM(s.total_amount) FILTER (WHERE s.status = 'completed'), 0) AS total_volume,
       COALESCE(SUM(s.base_amount) FILTER (WHERE s.status = 'completed'), 0) AS total_base,
       COALESCE(SUM(s.tip_amount) FILTER (WHERE s.status = 'completed'), 0) AS total_tips,
       ROUND(AVG(s.tip_percent) FILTER (WHERE s.tip_amount > 0), 2) AS average_tip_percent,
       COUNT(DISTINCT s.tip_recipient) FILTER (WHERE s.tip_recipient <> '') AS unique_tip_recipients
  FROM payment_splits s
 GROUP BY (s.created_at AT TIME ZONE 'UTC')::date;

CREATE OR REPLACE VIEW top_tip_recipients AS
SELECT t.recipient_username,
       t.total_tips_received,
       t.total_tips_count,
       t.average_tip_amount,
       t.first_tip_received_at,
       t.last_tip_received_at,
       RANK() OVER (ORDER BY t.total_tips_received DESC) AS rank
  FROM tip_recipient_stats t
 WHERE t.total_tips_count > 0
 ORDER BY t.total_tips_received DESC
 LIMIT 100;
"""

REVERSE_SQL = """
DROP VIEW IF EXISTS top_tip_recipients;
DROP VIEW IF EXISTS payment_statistics;
DROP VIEW IF EXISTS active_payments;
DROP INDEX IF EXISTS idx_split_created_day;
DROP TRIGGER IF EXISTS payment_events_append_only ON payment_events;
DROP FUNCTION IF EXISTS payment_events_append_only();
DROP TRIGGER IF EXISTS split_profile_weights_sum ON split_profile_shares;
DROP FUNCTION IF EXISTS check_split_profile_weights();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [
        migrations.RunSQL(WEIGHTS_SQL + APPEND_ONLY_SQL + VIEWS_SQL, REVERSE_SQL),
    ]
