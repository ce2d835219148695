"""The default Celery beat schedule in django-celery-beat's tables (editable in the admin).

Rows are created only when missing (matched by name), so an operator's edits survive re-running
migrations. Minute jobs get an ``expire_seconds`` so a backlog of stale ticks is dropped rather than
run one after another after an outage.
"""

from django.db import migrations
from django.utils import timezone

INTERVAL_TASKS = [
    # (name, task, every seconds, expire seconds, description)
    (
        "expire_old_payments",
        "payments.tasks.maintenance.expire_old_payments_task",
        60,
        55,
        "Pending splits past expires_at become expired (a late payment still wins).",
    ),
    (
        "reconcile",
        "payments.tasks.forwarding.reconcile_task",
        20,
        18,
        "Poll unpaid invoices, resolve pending/unknown legs, resume stuck forwards.",
    ),
    (
        "snapshot_metrics",
        "analytics.tasks.snapshot_metrics_task",
        60,
        55,
        "Write system_metrics and evaluate alert thresholds.",
    ),
    (
        "refresh_stats",
        "analytics.tasks.refresh_stats_task",
        300,
        280,
        "Verify tip_recipient_stats against the legs, repair drift, refresh stats:* cache keys.",
    ),
]
CRONTAB_TASKS = [
    # (name, task, minute, hour, description)
    (
        "cleanup_old_data",
        "payments.tasks.maintenance.cleanup_old_data_task",
        "30",
        "3",
        "Delete system_metrics and non-financial events past retention (never money rows).",
    ),
    (
        "check_recipients",
        "payments.tasks.maintenance.check_recipients_task",
        "0",
        "4",
        "Resolve every active staff and merchant wallet; flag those that no longer resolve.",
    ),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for name, task, every, expire, description in INTERVAL_TASKS:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": interval,
                "expire_seconds": expire,
                "description": description,
                "enabled": True,
            },
        )
    for name, task, minute, hour, description in CRONTAB_TASKS:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "crontab": crontab, "description": description, "enabled": True},
        )
    # Tell a running beat (DatabaseScheduler) that the schedule changed.
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [t[0] for t in INTERVAL_TASKS] + [t[0] for t in CRONTAB_TASKS]
    PeriodicTask.objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
