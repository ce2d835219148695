"""``manage.py rotate_encryption_keys [--batch-size N]``: re-encrypt stored secrets under the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.services.key_rotation import encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored API key under the first key of FIELD_ENCRYPTION_KEYS, in batches. "
        "Resumable: values already under that key are skipped. Values no key can open are reported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        report = encryption_keys_rotate(batch_size=options["batch_size"])
        for item in report.fields:
            self.stdout.write(
                f"{item.label}: scanned {item.scanned}, re-encrypted {item.rotated}, "
                f"already current {item.already_current}, undecryptable {len(item.undecryptable_ids)}"
            )
            if item.undecryptable_ids:
                ids = ", ".join(str(i) for i in item.undecryptable_ids)
                self.stdout.write(f"  undecryptable ids (no configured key opens them; left untouched): {ids}")
        if report.undecryptable:
            raise CommandError(
                f"{report.undecryptable} value(s) cannot be decrypted with any configured key: keep the old key "
                "until they are dealt with"
            )
        self.stdout.write(f"done: {report.rotated} re-encrypted; every stored key is under the newest key")
