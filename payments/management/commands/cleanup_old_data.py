"""``manage.py cleanup_old_data [--dry-run]``: retention cleanup of metrics, non-financial events,
final webhook deliveries and stored idempotency answers."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payments.services.maintenance import old_data_cleanup


class Command(BaseCommand):
    help = (
        "Delete system_metrics, non-financial payment events, webhook deliveries with a final outcome and "
        "stored Idempotency-Key answers past RETENTION_DAYS_METRICS / _EVENTS / _WEBHOOK_DELIVERIES / "
        "_IDEMPOTENCY_KEYS, in batches. Never deletes a split, a leg, a money event or a queued delivery."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
        parser.add_argument("--batch-size", type=int, default=5000, help="rows per transaction (default 5000)")

    def handle(self, *args: Any, **options: Any) -> None:
        result = old_data_cleanup(dry_run=options["dry_run"], batch_size=max(1, options["batch_size"]))
        verb = "would delete" if result.dry_run else "deleted"
        self.stdout.write(
            f"{verb} {result.metrics_deleted} system metric(s) older than {result.metrics_cutoff:%Y-%m-%d %H:%M} UTC"
        )
        self.stdout.write(
            f"{verb} {result.events_deleted} non-financial event(s) older than "
            f"{result.events_cutoff:%Y-%m-%d %H:%M} UTC"
        )
        for count, what, cutoff in (
            (result.deliveries_deleted, "webhook deliveries with a final outcome", result.deliveries_cutoff),
            (result.idempotency_deleted, "stored idempotency answer(s)", result.idempotency_cutoff),
            (
                result.merchant_webhooks_deleted,
                "merchant webhook message(s) with a final status (and their attempts)",
                result.deliveries_cutoff,
            ),
        ):
            when = f" older than {cutoff:%Y-%m-%d %H:%M} UTC" if cutoff else ""
            self.stdout.write(f"{verb} {count} {what}{when}")
