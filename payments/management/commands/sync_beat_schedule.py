"""``manage.py sync_beat_schedule [--reset]``: bring django-celery-beat's rows in line with the code.

``migrate`` already does this; the command is for an operator who wants to see the differences or, with
``--reset``, to undo cadence edits made in the admin.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from blinkpos.beat import sync_schedule


class Command(BaseCommand):
    help = (
        "Create missing periodic jobs and refresh their task paths; --reset also restores the code's cadence "
        "and re-enables them (undoing edits made in the admin)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="restore the code's cadence and enable every job")

    def handle(self, *args: Any, **options: Any) -> None:
        report = sync_schedule(reset=options["reset"])
        for label, names in (("created", report.created), ("updated", report.updated)):
            for name in names:
                self.stdout.write(f"{label}: {name}")
        self.stdout.write(f"unchanged: {len(report.unchanged)}")
        for name in report.undeclared:
            self.stdout.write(self.style.WARNING(f"not declared in code (left as it is): {name}"))
