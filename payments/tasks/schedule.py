"""The payments app's periodic jobs (synced into django-celery-beat by ``blinkpos.beat``)."""

from __future__ import annotations

from blinkpos.beat import ScheduledJob

JOBS = [
    ScheduledJob(
        name="expire_old_payments",
        task="payments.tasks.maintenance.expire_old_payments_task",
        every_seconds=60,
        expire_seconds=55,
        description="Pending splits past expires_at become expired (a late payment still wins).",
    ),
    ScheduledJob(
        name="reconcile",
        task="payments.tasks.forwarding.reconcile_task",
        every_seconds=20,
        expire_seconds=18,
        description="Poll unpaid invoices, resolve pending/unknown legs, resume stuck forwards.",
    ),
    ScheduledJob(
        name="refunds_sweep",
        task="payments.tasks.refunds.refunds_sweep_task",
        every_seconds=30,
        expire_seconds=28,
        description=(
            "Poll refunds' funding invoices (funded or expired), resume lost refund and pool payouts, look up "
            "in-flight ones."
        ),
    ),
    ScheduledJob(
        name="hotstore_repair",
        task="payments.tasks.maintenance.hotstore_repair_task",
        every_seconds=20,
        expire_seconds=18,
        description="Correct hot copies (tip:*) a Redis outage left stale: finished sales never shown as paid.",
    ),
    ScheduledJob(
        name="cleanup_old_data",
        task="payments.tasks.maintenance.cleanup_old_data_task",
        at_hour=3,
        at_minute=30,
        description=(
            "Delete system_metrics, final webhook deliveries and idempotency answers past retention; drop "
            "months of non-financial events (never money rows)."
        ),
    ),
    ScheduledJob(
        name="event_partitions",
        task="payments.tasks.maintenance.event_partitions_task",
        at_hour=3,
        at_minute=10,
        description="Create payment_events' monthly partitions ahead (EVENT_PARTITIONS_AHEAD_MONTHS).",
    ),
    ScheduledJob(
        name="check_recipients",
        task="payments.tasks.maintenance.check_recipients_task",
        at_hour=4,
        description="Resolve every active staff and merchant wallet; flag those that no longer resolve.",
    ),
    ScheduledJob(
        name="reconcile_books",
        task="payments.tasks.books.reconcile_books_task",
        at_hour=5,
        description="Compare the platform wallet's Blink history and balance with our books; record differences.",
    ),
]
