"""``manage.py snapshot_metrics``: write this minute's system_metrics rows and evaluate alerts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.services.metrics import metrics_snapshot


class Command(BaseCommand):
    help = "Snapshot hot-store, latency, payment, queue, pool and Redis figures; evaluate alert thresholds."

    def handle(self, *args: Any, **options: Any) -> None:
        result = metrics_snapshot()
        if result.skipped:
            self.stdout.write(f"snapshot for {result.bucket} already written; nothing to do")
        else:
            self.stdout.write(f"snapshot {result.bucket}: {result.written} row(s)")
        for alert in result.alerts:
            self.stdout.write(self.style.WARNING(f"ALERT {alert.name}: {alert.message}"))
