"""``manage.py refresh_stats [--verify]``: the scheduled tip-stats refresh, on demand."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.services.metrics import stats_refresh_record
from payments.management.commands.update_tip_recipient_stats import write_report


class Command(BaseCommand):
    help = (
        "Verify tip_recipient_stats against the succeeded tip legs and repair drift (recorded as a "
        "stats_repaired metric)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--verify", action="store_true", help="report drift, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        write_report(self, stats_refresh_record(repair=not options["verify"]))
