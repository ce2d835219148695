"""Books that agree with Blink: ``books_reconcile`` walks one platform account's wallet history (the
default account's unless told; ``books_reconcile_accounts`` runs every account in turn) since its last
checkpoint, mirrors it in ``books_transactions`` matched to our splits and legs, and records every
difference (``books_findings``) and the balance comparison. It NEVER moves money and never changes a
split or a leg: it tells an operator what to look at (README, "Books reconciliation").

How a run goes:

1. Claim: insert a ``running`` run (a partial unique index allows one; a run left ``running`` longer
   than ``BOOKS_RUN_STALE_SECONDS`` by a dead worker is marked failed first).
2. Walk, outside any transaction: Blink lists transactions newest first, so the run pages back from
   the newest until it reaches the checkpoint's transaction id (or the end of the history).
3. Mirror the walked transactions (insert, or update the status of one seen before) with their match:
   a receive to the split with its payment hash, a send or a reimbursement to the leg that committed
   that payout invoice (any invoice ever committed for the leg, from ``leg_invoice_created`` events).
   A receive that matches nothing is also recorded in ``unmatched_payments`` (money rule 7).
4. Judge and record, in one transaction: open differences found again keep their row (last seen
   updated), new ones get a row, open ones not found any more are closed; the run's totals; and the
   checkpoint, which advances only here, when the run completes. It moves to the newest transaction
   walked unless a walked transaction is still PENDING (it may yet settle or fail under the same id):
   then to the newest one older than every pending one, so the next run walks those again.
5. Write ``books_*`` figures to ``system_metrics`` for the metrics page and alerts.

A run that fails (Blink unavailable, a malformed page) is marked failed with its error; the checkpoint
and the differences stay as the last complete run left them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import (
    BooksCheckpoint,
    BooksDifference,
    BooksRun,
    BooksRunStatus,
    BooksTransaction,
    DifferenceStatus,
    PaymentEvent,
    UnmatchedPayment,
)
from payments.platform_accounts import account_ids_in_use, account_label, provider_for
from payments.services.books_findings import Balance, Finding, Scope, balance_measure, findings_collect
from payments.services.books_pools import pool_payout_hashes
from payments.services.books_refunds import refund_hashes
from payments.wallet.base import WalletProvider
from payments.wallet.errors import WalletError
from payments.wallet.types import TxDirection, TxStatus, WalletTransaction

log = get_logger(__name__)

SYSTEM_METRICS_TABLE = "system_metrics"  # written by name: payments never imports analytics


class BooksBusy(Exception):
    """Another run is in progress."""


class BooksIncomplete(Exception):
    """The walk did not reach the checkpoint within ``BOOKS_MAX_PAGES``."""


@dataclass(kw_only=True)
class Walk:
    balance_sats: int
    transactions: list[WalletTransaction] = field(default_factory=list)  # newest first
    pages: int = 0
    reached_checkpoint: bool = False


@dataclass(frozen=True, kw_only=True)
class BooksResult:
    run: BooksRun
    findings: tuple[Finding, ...]
    differences: tuple[BooksDifference, ...]  # open after the run, in findings order

    @property
    def ok(self) -> bool:
        return bool(self.run.ok)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


# --- 1. claim ---------------------------------------------------------------------------------


def _run_claim(scope: Scope) -> BooksRun:
    stale_before = timezone.now() - timedelta(seconds=_setting("BOOKS_RUN_STALE_SECONDS", 7200))
    BooksRun.objects.filter(
        status=BooksRunStatus.RUNNING, started_at__lt=stale_before, platform_account_id=scope.account_id
    ).update(status=BooksRunStatus.FAILED, finished_at=timezone.now(), ok=False, error="abandoned (no finish recorded)")
    try:
        with transaction.atomic():
            return BooksRun.objects.create(status=BooksRunStatus.RUNNING, platform_account_id=scope.account_id)
    except IntegrityError:
        raise BooksBusy(f"another books run of account {account_label(scope.account_id)} is in progress") from None


# --- 2. walk ----------------------------------------------------------------------------------


def books_walk(*, provider: WalletProvider, stop_at_tx_id: str, page_size: int, max_pages: int) -> Walk:
    """Page back from the newest transaction to ``stop_at_tx_id`` (excluded) or the oldest."""
    walk: Walk | None = None
    after: str | None = None
    while True:
        page = provider.wallet_transactions(after=after, first=page_size)
        walk = walk or Walk(balance_sats=page.balance_sats)
        walk.pages += 1
        for tx in page.transactions:
            if stop_at_tx_id and tx.id == stop_at_tx_id:
                walk.reached_checkpoint = True
                return walk
            walk.transactions.append(tx)
        if not page.has_next_page:
            return walk
        if walk.pages >= max_pages:
            raise BooksIncomplete(f"checkpoint not reached within {max_pages} pages (BOOKS_MAX_PAGES)")
        after = page.end_cursor


def next_checkpoint(walked: list[WalletTransaction]) -> WalletTransaction | None:
    """The newest walked transaction older than every walked PENDING one (None: keep the old one)."""
    pending = [i for i, tx in enumerate(walked) if tx.status is TxStatus.PENDING]
    index = max(pending) + 1 if pending else 0
    return walked[index] if index < len(walked) else None


# --- 3. mirror --------------------------------------------------------------------------------


def _payout_legs(hashes: set[str], scope: Scope) -> dict[str, int]:
    """payout hash -> leg id, over every payout invoice ever committed for a leg of the account's sales."""
    found: dict[str, int] = {
        h: pk for h, pk in scope.legs().filter(payment_hash__in=hashes).values_list("payment_hash", "pk") if h
    }
    committed = PaymentEvent.objects.filter(
        event_type="leg_invoice_created",
        event_data__payout_hash__in=sorted(hashes),
        leg__split__platform_account_id=scope.account_id,
    ).values_list("event_data", "leg_id")
    for data, leg_id in committed:
        if leg_id and isinstance(data, dict) and isinstance(data.get("payout_hash"), str):
            found.setdefault(data["payout_hash"], leg_id)
    return found


def _matches(rows: list[tuple[str, str]], scope: Scope) -> tuple[dict[str, int], dict[str, int]]:
    """(split id by payment hash for receives, leg id by payout hash) for (direction, hash) pairs, among
    the account's own sales: money in one account's wallet never explains another account's sale."""
    hashes = {h for _, h in rows if h}
    receive_hashes = {h for d, h in rows if h and d == TxDirection.RECEIVE.value}
    splits = dict(scope.splits().filter(payment_hash__in=receive_hashes).values_list("payment_hash", "pk"))
    return splits, _payout_legs(hashes, scope)


def _mirror(run: BooksRun, walked: list[WalletTransaction], scope: Scope) -> None:
    splits, legs = _matches([(tx.direction.value, tx.payment_hash or "") for tx in walked], scope)
    rows = [
        BooksTransaction(
            blink_id=tx.id,
            cursor=tx.cursor,
            created_at=tx.created_at,
            direction=tx.direction.value,
            status=tx.status.value,
            amount_sats=tx.amount_sats,
            fee_sats=tx.fee_sats,
            payment_hash=tx.payment_hash or "",
            external_id=(tx.external_id or "")[:100],
            split_id=splits.get(tx.payment_hash or "") if tx.direction is TxDirection.RECEIVE else None,
            leg_id=legs.get(tx.payment_hash or ""),
            first_run=run,
            updated_at=timezone.now(),
            platform_account_id=scope.account_id,
        )
        for tx in walked
    ]
    with transaction.atomic():
        BooksTransaction.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["blink_id"],
            update_fields=["cursor", "status", "amount_sats", "fee_sats", "split", "leg", "updated_at"],
        )


def _rematch_orphans(scope: Scope) -> None:
    """Match again what matched nothing (a receive seen before its split committed, a leg's invoice
    recorded later); an operator's fix also shows up this way."""
    orphans = list(scope.txs().filter(split__isnull=True, leg__isnull=True).exclude(payment_hash=""))
    if not orphans:
        return
    splits, legs = _matches([(tx.direction, tx.payment_hash) for tx in orphans], scope)
    for tx in orphans:
        split_id = splits.get(tx.payment_hash) if tx.direction == TxDirection.RECEIVE.value else None
        leg_id = legs.get(tx.payment_hash)
        if split_id or leg_id:
            BooksTransaction.objects.filter(pk=tx.pk, split__isnull=True, leg__isnull=True).update(
                split_id=split_id, leg_id=leg_id
            )


def _record_unmatched(*, judged_before: datetime, scope: Scope) -> int:
    """Money no split (and no leg) explains goes to the operators' unmatched-payments queue, once per
    payment, as the webhook's detection would have recorded it (money rule 7)."""
    orphans = (
        scope.txs()
        .filter(
            direction=TxDirection.RECEIVE.value,
            status=TxStatus.SUCCESS.value,
            split__isnull=True,
            leg__isnull=True,
            created_at__lt=judged_before,
        )
        .exclude(payment_hash__in=refund_hashes())
        .exclude(payment_hash__in=pool_payout_hashes())
    )  # refunds' money (books_refunds.py), fees given back on pool payouts (books_pools.py)
    rows = [
        UnmatchedPayment(
            payment_hash=tx.payment_hash or tx.blink_id,
            amount=max(tx.amount_sats, 0),
            event_data={"source": "books", "blink_tx_id": tx.blink_id},
            platform_account_id=scope.account_id,
        )
        for tx in orphans
    ]
    return len(UnmatchedPayment.objects.bulk_create(rows, ignore_conflicts=True))


# --- 4. judge and record ----------------------------------------------------------------------


def _differences_record(run: BooksRun, findings: list[Finding], scope: Scope) -> tuple[list[BooksDifference], int, int]:
    """Upsert the account's open differences; close the ones not found. Returns (open rows, new, closed)."""
    now = timezone.now()
    mine = BooksDifference.objects.select_for_update().filter(
        status=DifferenceStatus.OPEN, platform_account_id=scope.account_id
    )
    open_rows = {(d.kind, d.key): d for d in mine}
    kept: list[BooksDifference] = []
    new = 0
    for f in findings:
        values: dict[str, Any] = {
            "payment_hash": f.payment_hash,
            "blink_tx_id": f.blink_tx_id,
            "expected_sats": f.expected_sats,
            "actual_sats": f.actual_sats,
            "split_id": f.split_id,
            "leg_id": f.leg_id,
            "detail": f.detail[:2000],
            "last_run": run,
            "last_seen_at": now,
        }
        row = open_rows.pop((f.kind, f.key), None)
        if row is None:
            row = BooksDifference.objects.create(
                kind=f.kind, key=f.key, first_run=run, platform_account_id=scope.account_id, **values
            )
            new += 1
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.save()
        kept.append(row)
    closed = BooksDifference.objects.filter(pk__in=[d.pk for d in open_rows.values()]).update(
        status=DifferenceStatus.CLOSED, closed_run=run, closed_at=now
    )
    return kept, new, closed


def _walk_totals(run: BooksRun, walk: Walk) -> None:
    done = [tx for tx in walk.transactions if tx.status is TxStatus.SUCCESS]
    receives = [tx for tx in done if tx.direction is TxDirection.RECEIVE]
    sends = [tx for tx in done if tx.direction is TxDirection.SEND]
    run.pages, run.transactions_walked = walk.pages, len(walk.transactions)
    run.newest_tx_id = walk.transactions[0].id if walk.transactions else ""
    run.oldest_tx_id = walk.transactions[-1].id if walk.transactions else ""
    run.receives, run.sends = len(receives), len(sends)
    run.received_sats = sum(tx.amount_sats for tx in receives)
    run.sent_sats = -sum(tx.amount_sats for tx in sends)
    run.fees_sats = sum(tx.fee_sats for tx in sends)


def _opening_balance(checkpoint: BooksCheckpoint, walk: Walk, scope: Scope) -> int | None:
    """Measured once, when a run has walked the whole history: the balance no transaction explains."""
    if checkpoint.opening_balance_sats is not None:
        return checkpoint.opening_balance_sats
    if checkpoint.tx_id or walk.reached_checkpoint:
        return None  # the history was not walked from its start by this run
    debited = scope.txs().filter(status__in=(TxStatus.SUCCESS.value, TxStatus.PENDING.value))
    explained = int(debited.aggregate(total=Sum("amount_sats"))["total"] or 0)
    return walk.balance_sats - explained


def _metrics_write(run: BooksRun) -> None:
    delta = None if run.balance_expected is None else (run.balance_actual or 0) - run.balance_expected
    tags = {"run": run.pk, "account": account_label(run.platform_account_id)}
    rows = [
        ("books_differences", run.differences, "count", {**tags, "by_kind": run.by_kind, "ok": run.ok}),
        ("books_balance_difference_sats", delta, "sats", tags),
    ]
    with connection.cursor() as cursor:
        for name, value, unit, metadata in rows:
            if value is None:
                continue
            cursor.execute(
                f"INSERT INTO {SYSTEM_METRICS_TABLE} (metric_name, metric_value, metric_unit, timestamp, metadata) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s)",
                [name, value, unit, timezone.now(), json.dumps(metadata)],
            )


def _run_fail(run: BooksRun, error: str) -> None:
    run.status, run.ok, run.finished_at, run.error = BooksRunStatus.FAILED, False, timezone.now(), error[:2000]
    run.save(update_fields=["status", "ok", "finished_at", "error"])
    log.error("books.run_failed", run_id=run.pk, error=error)


def books_reconcile(*, provider: WalletProvider | None = None, account_id: int | None = None) -> BooksResult:
    """One books run of one platform account's wallet (None: the default account). Raises ``BooksBusy``
    when another run of that account is in progress; a run that cannot finish is recorded as failed and
    the error re-raised (``WalletError`` or ``BooksIncomplete``)."""
    scope = Scope(account_id)
    provider = provider or provider_for(account_id=account_id)
    run = _run_claim(scope)
    checkpoint, _ = BooksCheckpoint.objects.get_or_create(platform_account_id=account_id)
    run.from_checkpoint_tx_id = checkpoint.tx_id
    judged_before = run.started_at - timedelta(seconds=_setting("BOOKS_SETTLE_SECONDS", 60))
    try:
        walk = books_walk(
            provider=provider,
            stop_at_tx_id=checkpoint.tx_id,
            page_size=_setting("BOOKS_PAGE_SIZE", 100),
            max_pages=_setting("BOOKS_MAX_PAGES", 2000),
        )
        _mirror(run, walk.transactions, scope)
        _rematch_orphans(scope)
    except (WalletError, BooksIncomplete) as exc:
        _run_fail(run, f"{type(exc).__name__}: {exc}")
        raise
    if checkpoint.tx_id and not walk.reached_checkpoint:
        run.note = f"Checkpoint {checkpoint.tx_id} not in Blink's history any more: walked all of it."
    _record_unmatched(judged_before=judged_before, scope=scope)
    opening = _opening_balance(checkpoint, walk, scope)
    balance: Balance | None = None
    if opening is not None:
        held = _setting("BOOKS_HELD_SATS", 0) if account_id is None else 0  # the setting is the default's
        balance = balance_measure(actual=walk.balance_sats, opening=opening, held=held, scope=scope)
    findings = findings_collect(judged_before=judged_before, balance=balance, scope=scope)
    with transaction.atomic():
        kept, new, closed = _differences_record(run, findings, scope)
        _walk_totals(run, walk)
        moved_to = next_checkpoint(walk.transactions)
        if moved_to is not None:
            checkpoint.tx_id, checkpoint.cursor, checkpoint.tx_created_at = (
                moved_to.id,
                moved_to.cursor,
                moved_to.created_at,
            )
        checkpoint.run = run
        checkpoint.opening_balance_sats = opening
        checkpoint.save()
        run.checkpoint_tx_id = checkpoint.tx_id
        run.balance_actual = walk.balance_sats
        run.balance_expected = balance.expected if balance is not None else None
        run.balance_parts = balance.parts if balance is not None else {}
        run.differences, run.new_differences, run.closed_differences = len(kept), new, closed
        run.by_kind = dict(Counter(f.kind for f in findings))
        run.ok = not findings
        run.status, run.finished_at = BooksRunStatus.COMPLETE, timezone.now()
        run.save()
    _metrics_write(run)
    log_fn = log.info if run.ok else log.warning
    log_fn(
        "books.run_complete",
        run_id=run.pk,
        account=account_label(account_id),
        walked=run.transactions_walked,
        differences=run.differences,
        new=new,
        closed=closed,
        balance_expected=run.balance_expected,
        balance_actual=run.balance_actual,
        by_kind=run.by_kind,
    )
    return BooksResult(run=run, findings=tuple(findings), differences=tuple(kept))


def books_reconcile_accounts() -> list[BooksResult | Exception]:
    """A books run for every platform account in turn (the default one first); an account whose run is
    busy or cannot finish gives its error in its place and the others still run."""
    results: list[BooksResult | Exception] = []
    for account_id in account_ids_in_use():
        try:
            results.append(books_reconcile(account_id=account_id))
        except (BooksBusy, BooksIncomplete, WalletError) as exc:
            log.warning("books.account_not_reconciled", account=account_label(account_id), error=type(exc).__name__)
            results.append(exc)
    return results
