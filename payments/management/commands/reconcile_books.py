"""``manage.py reconcile_books``: one books run now, printed as a table.

Exit status: 0 when the books agree with Blink, 1 when anything differs (the differences are listed and
kept in the admin), 2 when the run could not finish (Blink unavailable, another run in progress), so
cron or CI can alert on it. Never moves money.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments.models import BooksDifference, PlatformAccount
from payments.platform_accounts import account_ids_in_use
from payments.services.books import BooksBusy, BooksIncomplete, BooksResult, books_reconcile
from payments.wallet.errors import WalletError

EXIT_DIFFERENCES = 1
EXIT_NOT_RUN = 2
_COLUMNS = ("KIND", "KEY", "EXPECTED", "ACTUAL", "DELTA", "SPLIT", "LEG", "SEEN SINCE")


def _sats(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _row(d: BooksDifference) -> tuple[str, ...]:
    key = d.key if len(d.key) <= 24 else f"{d.key[:22]}…"
    return (
        d.kind,
        key,
        _sats(d.expected_sats),
        _sats(d.actual_sats),
        _sats(d.delta_sats),
        str(d.split_id or "—"),
        str(d.leg_id or "—"),
        f"run {d.first_run_id} {d.first_seen_at:%Y-%m-%d %H:%M}",
    )


def table(rows: list[tuple[str, ...]], header: tuple[str, ...] = _COLUMNS) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4}  # amounts
    lines = []
    for r in [header, *rows]:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _accounts(name: str | None) -> list[tuple[int | None, str]]:
    """(account id, name) of the accounts to run: all (the default first), or the one named."""
    names = dict(PlatformAccount.objects.values_list("pk", "name"))
    every = [(a, "default" if a is None else names[a]) for a in account_ids_in_use()]
    if name is None:
        return every
    chosen = [(account_id, n) for account_id, n in every if n == name]
    if not chosen:
        raise CommandError(f"No platform account named {name!r}.", returncode=EXIT_NOT_RUN)
    return chosen


class Command(BaseCommand):
    help = (
        "Walk the platform wallet's Blink history since the last checkpoint, match every receive to a split "
        "and every send to a leg, compare the balance with our books and record every difference. "
        "Exit status 1 when anything differs, 2 when the run could not finish. Never moves money."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="print only the summary line")
        parser.add_argument(
            "--account", help="one platform account by name ('default': the BLINK_* settings' one); default: all"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = _accounts(options["account"])
        failed: list[str] = []
        differences = 0
        for account_id, name in accounts:
            if len(accounts) > 1:
                self.stdout.write(f"== platform account {name}")
            try:
                result = books_reconcile(account_id=account_id)
            except BooksBusy as exc:
                failed.append(f"{name}: not run: {exc}")
                continue
            except (WalletError, BooksIncomplete) as exc:
                failed.append(f"{name}: books run failed, checkpoint unchanged: {exc}")
                continue
            self._print(result, quiet=options["quiet"])
            if not result.ok:
                differences += result.run.differences
        if failed:
            raise CommandError("; ".join(failed), returncode=EXIT_NOT_RUN)
        if differences:
            raise CommandError(f"{differences} difference(s) between our books and Blink", returncode=EXIT_DIFFERENCES)

    def _print(self, result: BooksResult, *, quiet: bool) -> None:
        run = result.run
        start = run.from_checkpoint_tx_id or "the oldest transaction"
        self.stdout.write(
            f"books run {run.pk}: walked {run.transactions_walked} transaction(s) in {run.pages} page(s), "
            f"back to {start}; checkpoint now {run.checkpoint_tx_id or '(start)'}"
        )
        if quiet:
            return
        self.stdout.write(
            f"  walked: {run.receives} receive(s) {run.received_sats:,} sats, {run.sends} send(s) "
            f"{run.sent_sats:,} sats, fees {run.fees_sats:,} sats"
        )
        if run.balance_expected is None:
            self.stdout.write("  balance: not compared (the history has not been walked from its start yet)")
        else:
            delta = (run.balance_actual or 0) - run.balance_expected
            self.stdout.write(
                f"  balance: expected {run.balance_expected:,} sats, Blink {_sats(run.balance_actual)} sats, "
                f"difference {delta:+,}"
            )
            parts = ", ".join(f"{k} {v:,}" for k, v in run.balance_parts.items())
            self.stdout.write(f"  expected = opening + held + received + unmatched - forwarded - fees - sent: {parts}")
        if run.note:
            self.stdout.write(f"  note: {run.note}")
        if result.differences:
            self.stdout.write("")
            for line in table([_row(d) for d in result.differences]):
                self.stdout.write(line)
            self.stdout.write(
                f"{run.differences} difference(s): {run.new_differences} new, {run.closed_differences} closed "
                "since the last run"
            )
        else:
            closed = f" ({run.closed_differences} closed since the last run)" if run.closed_differences else ""
            self.stdout.write(f"no differences: the books agree with Blink{closed}")
