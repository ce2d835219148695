"""``manage.py import_tip_store PATH [--dry-run] [--merchant USERNAME] [--no-provider] [--progress]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from payments.services.legacy_import import LegacyImportError, tip_store_import


class ProgressBar:
    """A plain text bar on stderr, redrawn in place; at most ~100 redraws whatever the file size."""

    def __init__(self, stream: OutputWrapper, width: int = 40) -> None:
        self.stream = stream
        self.width = width
        self.last_drawn = -1

    def __call__(self, done: int, total: int) -> None:
        step = max(1, total // 100)
        if done != total and done - self.last_drawn < step:
            return
        self.last_drawn = done
        filled = int(self.width * done / total) if total else self.width
        percent = 100 * done // total if total else 100
        bar = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {percent:3d}%"
        self.stream.write(bar, ending="\n" if done == total else "")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Import the original service's .tip-store.json (object keyed by payment hash). Backs the file up "
        "first, imports recent entries as pending and old ones as expired, encrypts userApiKey, skips hashes "
        "already imported. Each entry's merchant is --merchant, else the merchant owning its userWalletId, "
        "else a new one: named after the Blink account its userApiKey belongs to (a read-only lookup), or "
        "with a placeholder username legacy-... when Blink refuses the key or cannot be reached. Tip "
        "recipients become staff of that merchant; one Blink cannot resolve is created without a wallet "
        "and its tips wait until an operator resolves it (check_recipients, or the staff admin's 'Resolve "
        "wallets' action). New merchants have no login user and are marked 'needs setup': in the admin, "
        "create a user for the merchant's owner, pick it in the merchant's 'user' field, complete the "
        "username if it is a placeholder, and clear 'needs setup'. --dry-run writes nothing (not even the "
        "backup) but does the read-only lookups, unless --no-provider."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="validate and count; write nothing")
        parser.add_argument("--merchant", metavar="USERNAME", help="import every entry for this merchant")
        parser.add_argument(
            "--no-provider",
            action="store_true",
            help="ask Blink nothing: new merchants get placeholder usernames, new staff stay unresolved",
        )
        parser.add_argument("--progress", action="store_true", help="show a progress bar even without a TTY")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        show_progress = options["progress"] or self.stderr.isatty()
        try:
            report = tip_store_import(
                path=path,
                dry_run=options["dry_run"],
                merchant_username=options["merchant"],
                progress=ProgressBar(self.stderr) if show_progress else None,
                use_provider=not options["no_provider"],
            )
        except LegacyImportError as exc:
            raise CommandError(str(exc)) from None
        if report.backup_path:
            self.stdout.write(f"backup: {report.backup_path}")
        prefix = "dry run, nothing written: " if report.dry_run else ""
        verb = "would import" if report.dry_run else "imported"
        self.stdout.write(
            f"{prefix}total {report.total}, {verb} {report.imported} "
            f"({report.imported_pending} pending, {report.imported_expired} expired), "
            f"skipped {report.skipped} (already present), failed {report.failed}"
        )
        parties = report.parties
        created = "to create" if report.dry_run else "created"
        self.stdout.write(
            f"merchants {created} {parties.merchants_created} ({parties.merchants_placeholder} with a placeholder "
            f"username), staff {created} {parties.staff_created} ({parties.staff_unresolved} unresolved); "
            f"provider lookups {report.provider_calls}" + (f"; {report.provider_note}" if report.provider_note else "")
        )
        if parties.merchants_created:
            self.stdout.write("  new merchants need setup: admin > Merchants, filter 'needs setup'")
        for key, reason in report.failures:
            self.stdout.write(f"  failed {key}: {reason}")
