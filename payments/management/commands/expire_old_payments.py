"""``manage.py expire_old_payments``: expire pending splits past their invoice lifetime (also a beat job)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payments.services.maintenance import splits_expire


class Command(BaseCommand):
    help = "Expire pending splits whose invoice expired (a late payment still wins). Safe to run any time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="splits per transaction (default 200)")

    def handle(self, *args: Any, **options: Any) -> None:
        result = splits_expire(batch_size=max(1, options["batch_size"]))
        self.stdout.write(f"expired {result.expired} split(s) in {result.batches} batch(es)")
