"""``manage.py update_tip_recipient_stats [--rebuild | --verify]``: tip stats checked against the legs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from payments.services.tip_stats import StatsRefreshResult, tip_stats_rebuild, tip_stats_refresh


class Command(BaseCommand):
    help = (
        "Recompute tip_recipient_stats from the succeeded tip legs. Default and --rebuild repair every "
        "drifted row; --verify only reports. (The scheduled refresh_stats also records what it repaired.)"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--rebuild", action="store_true", help="rebuild every row from the legs")
        mode.add_argument("--verify", action="store_true", help="report drift, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verify"]:
            result = tip_stats_refresh(repair=False)
        elif options["rebuild"]:
            result = tip_stats_rebuild()
        else:
            result = tip_stats_refresh(repair=True)
        write_report(self, result)


def write_report(command: BaseCommand, result: StatsRefreshResult) -> None:
    verb = "drifted" if result.dry_run else "repaired"
    command.stdout.write(f"recipients checked: {result.recipients}; {verb}: {result.repaired}")
    for repair in result.repairs:
        command.stdout.write(
            f"  @{repair.username}: total {repair.before.get('total_tips_received')} -> "
            f"{repair.after.get('total_tips_received')} sats, count {repair.before.get('total_tips_count')} -> "
            f"{repair.after.get('total_tips_count')}"
        )
