"""The once-only guard tables of ``payment_events`` (migration 0014) are emptied whenever the events
are truncated: a guard row without its event would refuse a legitimate event later. (Test databases
are reset with TRUNCATE, which knows only the tables of Django models.)"""

from django.db import migrations

FORWARD_SQL = """
CREATE FUNCTION payment_events_truncate_guards() RETURNS trigger AS $$
BEGIN
    TRUNCATE payment_event_once, payment_leg_event_once;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER payment_events_truncate_guards AFTER TRUNCATE ON payment_events
    FOR EACH STATEMENT EXECUTE FUNCTION payment_events_truncate_guards();
"""

REVERSE_SQL = """
DROP TRIGGER payment_events_truncate_guards ON payment_events;
DROP FUNCTION payment_events_truncate_guards();
"""


class Migration(migrations.Migration):
    dependencies = [("payments", "0014_partitioned_payment_events")]

    operations = [migrations.RunSQL(FORWARD_SQL, REVERSE_SQL)]
