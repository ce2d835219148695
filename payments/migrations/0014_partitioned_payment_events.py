"""``payment_events`` becomes a partitioned table: by retention class, then by month.

::

    payment_events                       PARTITION BY LIST (retention_class)
      payment_events_money               'money'  PARTITION BY RANGE (timestamp)   kept for ever
        payment_events_money_y2026m11 …  one per month, + payment_events_money_default
      payment_events_ops                 'ops'    PARTITION BY RANGE (timestamp)   retention drops months
        payment_events_ops_y2026m11 …    one per month, + payment_events_ops_default

Retention then drops whole months of non-money events (``DETACH`` + ``DROP``) instead of deleting rows
(payments/services/event_partitions.py), and a beat job creates the months ahead.

- ``retention_class`` defaults to 'money', so the seed's SQL (``INSERT INTO payment_events
  (payment_hash, event_type, event_data) …``) runs unchanged and keeps what it writes; the app writes
  'ops' for non-money events. A CHECK refuses a money event in the 'ops' partitions, whoever writes it.
- The money event types live in one SQL function, ``payment_event_is_money``, used by that CHECK and
  by the append-only trigger (a schema test keeps it equal to ``MONEY_EVENT_TYPES``).
- A partitioned table's unique constraints must include the partition key, which would make "one
  ``paid`` per payment" meaningless. The two once-only rules therefore live in small tables filled by
  a BEFORE INSERT trigger, under the same constraint names, so a duplicate still fails the insert
  (and its transaction) with the same IntegrityError as before.
- PostgreSQL before 17 has no identity columns on partitioned tables: ``id`` takes its default from
  a sequence that continues the old identity.
"""

from django.db import migrations, models

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
TERMINAL_EVENT_TYPES = ("created", "paid", "paid_late", "forwarding_completed", "completed", "expired", "cancelled")
LEG_COMPLETION_TYPES = ("leg_succeeded", "leg_resolved")


def _listed(types: tuple[str, ...]) -> str:
    return ", ".join(f"'{t}'" for t in types)


FORWARD_SQL = f"""
CREATE OR REPLACE FUNCTION payment_event_is_money(event_type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT event_type IN ({_listed(MONEY_EVENT_TYPES)}) $$;

CREATE OR REPLACE FUNCTION payment_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'payment_events is append-only' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF payment_event_is_money(OLD.event_type) THEN
        RAISE EXCEPTION 'money event % of payment % is never deleted', OLD.event_type, OLD.payment_hash
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$ LANGUAGE plpgsql;

-- The unpartitioned table steps aside, its names freed for the new one.
ALTER TABLE payment_events RENAME TO payment_events_unpartitioned;
DROP TRIGGER payment_events_append_only ON payment_events_unpartitioned;
ALTER INDEX payment_events_pkey RENAME TO payment_events_unpartitioned_pkey;
ALTER INDEX event_terminal_once_per_payment RENAME TO payment_events_unpartitioned_terminal_once;
ALTER INDEX event_leg_completion_once RENAME TO payment_events_unpartitioned_leg_once;
ALTER INDEX idx_event_type RENAME TO payment_events_unpartitioned_type;
ALTER INDEX idx_timestamp RENAME TO payment_events_unpartitioned_timestamp;
ALTER INDEX payment_events_leg_id_590b77be RENAME TO payment_events_unpartitioned_leg;
ALTER INDEX payment_events_payment_hash_4af37429 RENAME TO payment_events_unpartitioned_hash;
ALTER INDEX payment_events_payment_hash_4af37429_like RENAME TO payment_events_unpartitioned_hash_like;
ALTER TABLE payment_events_unpartitioned
    RENAME CONSTRAINT payment_events_leg_id_590b77be_fk_payment_legs_id TO payment_events_unpartitioned_leg_fk;
ALTER TABLE payment_events_unpartitioned
    RENAME CONSTRAINT payment_events_payment_hash_4af37429_fk_payment_s TO payment_events_unpartitioned_hash_fk;

CREATE SEQUENCE payment_events_id AS bigint;
SELECT setval('payment_events_id', COALESCE((SELECT max(id) FROM payment_events_unpartitioned), 0) + 1, false);

CREATE TABLE payment_events (
    id bigint NOT NULL DEFAULT nextval('payment_events_id'),
    event_type varchar(50) NOT NULL,
    event_data jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    from_status varchar(20) NOT NULL DEFAULT '',
    to_status varchar(20) NOT NULL DEFAULT '',
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    leg_id bigint NULL,
    payment_hash varchar(64) NOT NULL,
    retention_class varchar(10) NOT NULL DEFAULT 'money',
    CONSTRAINT payment_events_pkey PRIMARY KEY (id, retention_class, "timestamp"),
    CONSTRAINT payment_events_class_valid CHECK (retention_class IN ('money', 'ops')),
    CONSTRAINT payment_events_money_kept CHECK (retention_class = 'money' OR NOT payment_event_is_money(event_type)),
    CONSTRAINT payment_events_leg_id_590b77be_fk_payment_legs_id
        FOREIGN KEY (leg_id) REFERENCES payment_legs (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_events_payment_hash_4af37429_fk_payment_s
        FOREIGN KEY (payment_hash) REFERENCES payment_splits (payment_hash) DEFERRABLE INITIALLY DEFERRED
) PARTITION BY LIST (retention_class);
ALTER SEQUENCE payment_events_id OWNED BY payment_events.id;

CREATE TABLE payment_events_money PARTITION OF payment_events FOR VALUES IN ('money') PARTITION BY RANGE ("timestamp");
CREATE TABLE payment_events_ops PARTITION OF payment_events FOR VALUES IN ('ops') PARTITION BY RANGE ("timestamp");
-- Rows outside every created month (a beat job that did not run, an import of old history) land here.
CREATE TABLE payment_events_money_default PARTITION OF payment_events_money DEFAULT;
CREATE TABLE payment_events_ops_default PARTITION OF payment_events_ops DEFAULT;

CREATE INDEX idx_event_type ON payment_events (event_type);
CREATE INDEX idx_timestamp ON payment_events ("timestamp");
CREATE INDEX payment_events_leg_id_590b77be ON payment_events (leg_id);
CREATE INDEX payment_events_payment_hash_4af37429 ON payment_events (payment_hash);
CREATE INDEX payment_events_payment_hash_4af37429_like ON payment_events (payment_hash varchar_pattern_ops);

CREATE TABLE payment_event_once (
    payment_hash varchar(64) NOT NULL,
    event_type varchar(50) NOT NULL,
    CONSTRAINT event_terminal_once_per_payment UNIQUE (payment_hash, event_type)
);
CREATE TABLE payment_leg_event_once (
    leg_id bigint NOT NULL,
    event_type varchar(50) NOT NULL,
    CONSTRAINT event_leg_completion_once UNIQUE (leg_id, event_type)
);

CREATE FUNCTION payment_events_once() RETURNS trigger AS $$
BEGIN
    IF NEW.event_type IN ({_listed(TERMINAL_EVENT_TYPES)}) THEN
        INSERT INTO payment_event_once (payment_hash, event_type) VALUES (NEW.payment_hash, NEW.event_type);
    END IF;
    IF NEW.leg_id IS NOT NULL AND NEW.event_type IN ({_listed(LEG_COMPLETION_TYPES)}) THEN
        INSERT INTO payment_leg_event_once (leg_id, event_type) VALUES (NEW.leg_id, NEW.event_type);
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER payment_events_once BEFORE INSERT ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payment_events_once();
CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payment_events_append_only();

-- Months from the oldest event to three months ahead, created before the copy (an empty default
-- partition never blocks a new month).
CREATE FUNCTION payment_events_create_month(month_start date) RETURNS integer AS $$
DECLARE
    suffix text := to_char(month_start, '"y"YYYY"m"MM');
    created integer := 0;
    class text;
BEGIN
    FOREACH class IN ARRAY ARRAY['money', 'ops'] LOOP
        IF to_regclass(format('payment_events_%s_%s', class, suffix)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                format('payment_events_%s_%s', class, suffix), 'payment_events_' || class,
                month_start::timestamp AT TIME ZONE 'UTC', (month_start + interval '1 month')::timestamp AT TIME ZONE 'UTC'
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$ LANGUAGE plpgsql;

SELECT payment_events_create_month(month::date)
  FROM generate_series(
           date_trunc('month', COALESCE((SELECT min("timestamp") FROM payment_events_unpartitioned), now()) AT TIME ZONE 'UTC'),
           date_trunc('month', (now() + interval '3 months') AT TIME ZONE 'UTC'),
           interval '1 month'
       ) AS month;

INSERT INTO payment_events
    (id, event_type, event_data, from_status, to_status, "timestamp", leg_id, payment_hash, retention_class)
SELECT id, event_type, event_data, from_status, to_status, "timestamp", leg_id, payment_hash,
       CASE WHEN payment_event_is_money(event_type) THEN 'money' ELSE 'ops' END
  FROM payment_events_unpartitioned
 ORDER BY id;

DROP TABLE payment_events_unpartitioned;
"""

# Back to one table (the rows come along; the partitions and guard tables go).
REVERSE_SQL = """
DROP TABLE payment_event_once;
DROP TABLE payment_leg_event_once;
ALTER TABLE payment_events RENAME TO payment_events_partitioned;
ALTER INDEX idx_event_type RENAME TO payment_events_partitioned_type;
ALTER INDEX idx_timestamp RENAME TO payment_events_partitioned_timestamp;
ALTER INDEX payment_events_leg_id_590b77be RENAME TO payment_events_partitioned_leg;
ALTER INDEX payment_events_payment_hash_4af37429 RENAME TO payment_events_partitioned_hash;
ALTER INDEX payment_events_payment_hash_4af37429_like RENAME TO payment_events_partitioned_hash_like;
ALTER INDEX payment_events_pkey RENAME TO payment_events_partitioned_pkey;
ALTER TABLE payment_events_partitioned
    RENAME CONSTRAINT payment_events_leg_id_590b77be_fk_payment_legs_id TO payment_events_partitioned_leg_fk;
ALTER TABLE payment_events_partitioned
    RENAME CONSTRAINT payment_events_payment_hash_4af37429_fk_payment_s TO payment_events_partitioned_hash_fk;
CREATE TABLE payment_events (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_type varchar(50) NOT NULL,
    event_data jsonb NOT NULL DEFAULT '{}'::jsonb,
    from_status varchar(20) NOT NULL DEFAULT '',
    to_status varchar(20) NOT NULL DEFAULT '',
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    leg_id bigint NULL CONSTRAINT payment_events_leg_id_590b77be_fk_payment_legs_id
        REFERENCES payment_legs (id) DEFERRABLE INITIALLY DEFERRED,
    payment_hash varchar(64) NOT NULL CONSTRAINT payment_events_payment_hash_4af37429_fk_payment_s
        REFERENCES payment_splits (payment_hash) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX idx_event_type ON payment_events (event_type);
CREATE INDEX idx_timestamp ON payment_events ("timestamp");
CREATE INDEX payment_events_leg_id_590b77be ON payment_events (leg_id);
CREATE INDEX payment_events_payment_hash_4af37429 ON payment_events (payment_hash);
CREATE INDEX payment_events_payment_hash_4af37429_like ON payment_events (payment_hash varchar_pattern_ops);
CREATE UNIQUE INDEX event_terminal_once_per_payment ON payment_events (payment_hash, event_type)
    WHERE event_type IN ('created', 'paid', 'paid_late', 'forwarding_completed', 'completed', 'expired', 'cancelled');
CREATE UNIQUE INDEX event_leg_completion_once ON payment_events (leg_id, event_type)
    WHERE event_type IN ('leg_succeeded', 'leg_resolved');
INSERT INTO payment_events (id, event_type, event_data, from_status, to_status, "timestamp", leg_id, payment_hash)
SELECT id, event_type, event_data, from_status, to_status, "timestamp", leg_id, payment_hash
  FROM payment_events_partitioned ORDER BY id;
SELECT setval(pg_get_serial_sequence('payment_events', 'id'), COALESCE((SELECT max(id) FROM payment_events), 0) + 1, false);
SET CONSTRAINTS ALL IMMEDIATE;
DROP TABLE payment_events_partitioned;
DROP FUNCTION payment_events_once();
DROP FUNCTION payment_events_create_month(date);
CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payment_events_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0013_receipt_token")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD_SQL, REVERSE_SQL)],
            state_operations=[
                migrations.RemoveConstraint(model_name="paymentevent", name="event_terminal_once_per_payment"),
                migrations.RemoveConstraint(model_name="paymentevent", name="event_leg_completion_once"),
                migrations.AddField(
                    model_name="paymentevent",
                    name="retention_class",
                    field=models.CharField(db_default="money", default="money", editable=False, max_length=10),
                ),
            ],
        ),
    ]
