"""``manage.py check_recipients [--staff ID ...] [--merchant ID ...]``: resolve recipients' wallets now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.services.maintenance import recipients_check


class Command(BaseCommand):
    help = (
        "Resolve every active staff and merchant Blink username and flag those that no longer resolve, "
        "are not BTC wallets, refuse receipts or changed wallet. Staff imported without a wallet get the one "
        "their username resolves to now (then retry their failed payments in the admin). Merchants with a "
        "placeholder username (legacy import) are skipped. Provider unavailable: flags unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--staff", type=int, nargs="*", help="only these staff ids")
        parser.add_argument("--merchant", type=int, nargs="*", help="only these merchant ids")

    def handle(self, *args: Any, **options: Any) -> None:
        staff_ids, merchant_ids = options["staff"], options["merchant"]
        if staff_ids is not None and merchant_ids is None:
            merchant_ids = []
        if merchant_ids is not None and staff_ids is None:
            staff_ids = []
        result = recipients_check(staff_ids=staff_ids, merchant_ids=merchant_ids)
        self.stdout.write(f"checked {result.checked}: ok {result.ok}, flagged {len(result.flagged)}")
        for kind, username, error in result.flagged:
            self.stdout.write(f"  {kind} @{username}: {error}")
        for username in result.resolved:
            self.stdout.write(f"  staff @{username}: wallet resolved; retry the payments waiting for it")
        if result.placeholders:
            self.stdout.write(f"  {result.placeholders} merchant(s) skipped: placeholder username, needs setup")
        if result.provider_error:
            raise CommandError(
                f"wallet provider unavailable ({result.provider_error}); {result.unchecked} not checked, "
                "their flags are unchanged"
            )
