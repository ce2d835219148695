"""Finding payments whose webhook never came (docs/ARCHITECTURE.md: money rule 7, Flows 2).

Every invoice Blink could still settle is polled: ``pending`` splits, and ``expired`` / ``cancelled``
ones until Blink itself, asked after the invoice's expiry plus ``UNPAID_POLL_MARGIN_SECONDS``, says it
is not paid (``unpaid_confirmed_at``). Cancelled ones too: a local cancel goes ahead when Blink's cancel
failed, so that invoice may still be paid.

Local expiry (``maintenance.splits_expire``) does not ask Blink first, and does not need to: it only
changes what a terminal shows, ``expired -> paid`` is allowed, and this poll goes on past Blink's own
expiry until one answer given after it can no longer change. Beat being down around the expiry
delays the poll; it cannot skip it, because the stop condition is an answer, not a time window.

``invoices_poll`` is the one place that asks Blink. It lists the platform wallet's transactions back
to the oldest invoice of the batch (one call answers for every receipt in it) and asks for one invoice's
status only where the list cannot answer: an invoice older than the part of the history it walked, and
an expired or cancelled one whose final "not paid" is due (that answer must be Blink's own, given after
its expiry plus the margin). If the list cannot be read, every invoice is asked for on its own.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import PaymentSplit, SplitStatus
from payments.platform_accounts import provider_for
from payments.services.claims import claim_ids, due, release
from payments.services.detection import PAID_OUTCOMES, payment_detected
from payments.wallet.base import WalletProvider
from payments.wallet.errors import InvoiceNotFound, WalletError
from payments.wallet.types import InvoiceState, InvoiceStatus, TxDirection, TxStatus

log = get_logger(__name__)

S = SplitStatus
LATE = (S.EXPIRED, S.CANCELLED)

PollAnswer = InvoiceStatus | WalletError
# Pages of the wallet's history one pass may read (100 transactions each); past them, invoices older
# than what was read are asked for one by one.
LISTING_MAX_PAGES = 10
LISTING_PAGE_SIZE = 100
# Blink's clock and ours may differ: the history is read this much further back than the oldest invoice.
LISTING_CLOCK_SKEW = timedelta(minutes=10)


def margin() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "UNPAID_POLL_MARGIN_SECONDS", 600)))


def invoices_poll(
    *,
    payment_hashes: Sequence[str],
    deadline: float,
    created: dict[str, datetime],
    must_ask: frozenset[str],
    provider: WalletProvider,
) -> Iterator[tuple[str, PollAnswer]]:
    """Blink's answer for each hash, yielded as it comes, until ``deadline`` (``time.monotonic()``): a
    hash not yielded was not asked. ``provider``: the platform account all these invoices were created on
    (its wallet's history is the one read). ``created`` gives each invoice's creation time (how far back the
    history must be read); ``must_ask`` the hashes that need Blink's own status answer even when the
    history shows no receipt. A provider error is that hash's answer, not the batch's."""
    oldest = min(created[h] for h in payment_hashes) if payment_hashes else timezone.now()
    receipts, covered_from = _receipts(since=oldest - LISTING_CLOCK_SKEW, deadline=deadline, provider=provider)
    for payment_hash in payment_hashes:
        if time.monotonic() >= deadline:
            return
        receipt = receipts.get(payment_hash)
        if receipt is not None:
            yield payment_hash, receipt
            continue
        if created[payment_hash] - LISTING_CLOCK_SKEW >= covered_from and payment_hash not in must_ask:
            # The history back to this invoice's creation holds no receipt for it: not paid (yet).
            yield payment_hash, InvoiceStatus(payment_hash=payment_hash, state=InvoiceState.PENDING)
            continue
        try:
            yield payment_hash, provider.invoice_status(payment_hash=payment_hash)
        except WalletError as exc:
            yield payment_hash, exc


def _receipts(
    *, since: datetime, deadline: float, provider: WalletProvider
) -> tuple[dict[str, InvoiceStatus], datetime]:
    """Settled receipts in the platform wallet's history back to ``since``, by payment hash, and the
    oldest instant the walk covers (now, when the history could not be read at all)."""
    found: dict[str, InvoiceStatus] = {}
    after: str | None = None
    covered_from = timezone.now()
    for _ in range(LISTING_MAX_PAGES):
        if time.monotonic() >= deadline:
            break
        try:
            page = provider.wallet_transactions(after=after, first=LISTING_PAGE_SIZE)
        except WalletError as exc:
            log.warning("reconcile.listing_failed", error_code=exc.code)
            return found, covered_from
        for tx in page.transactions:
            covered_from = min(covered_from, tx.created_at)
            if tx.direction is TxDirection.RECEIVE and tx.status is TxStatus.SUCCESS and tx.payment_hash:
                paid = tx.payment_hash.lower()
                found.setdefault(paid, InvoiceStatus(payment_hash=paid, state=InvoiceState.PAID))
        if not page.has_next_page:
            return found, datetime.min.replace(tzinfo=covered_from.tzinfo)  # the whole history was read
        if covered_from < since:
            return found, covered_from
        after = page.end_cursor
    return found, covered_from


def unpaid_reconcile(*, now: datetime, lease: datetime, batch_size: int, deadline: float) -> Counter[str]:
    """Poll one batch of splits Blink could still settle; PAID runs ``payment_detected``. Each answer is
    acted on as it comes, so an interrupted pass loses none; rows not reached are released."""
    counts: Counter[str] = Counter()
    ids = _claim(now, lease, batch_size)
    found = PaymentSplit.objects.filter(pk__in=ids).values_list(
        "pk", "payment_hash", "total_amount", "invoice_satoshis", "status", "created_at", "expires_at"
    )
    # Each invoice is asked about on the platform account it was created on, one walk per account.
    accounts = dict(PaymentSplit.objects.filter(pk__in=ids).values_list("payment_hash", "platform_account_id"))
    by_pk = {pk: (payment_hash, invoiced or total) for pk, payment_hash, total, invoiced, *_ in found}
    rows = {payment_hash: (pk, amount) for pk, (payment_hash, amount) in by_pk.items()}
    ordered = [by_pk[pk][0] for pk in ids if pk in by_pk]  # the claim's order: least recently polled first
    created = {payment_hash: created_at for _pk, payment_hash, *_rest, created_at, _e in found}
    # Only Blink's own answer, given after the expiry plus the margin, ends an invoice's polling.
    final_due = now - margin()
    must_ask = frozenset(
        payment_hash for _pk, payment_hash, _t, _i, status, _c, expires_at in found
        if status in LATE and expires_at <= final_due
    )  # fmt: skip
    asked_from = timezone.now()  # every answer below was given after this instant
    left = set(ids)
    try:
        for account_id in sorted(set(accounts.values()), key=lambda a: (a is not None, a or 0)):
            polled = invoices_poll(
                payment_hashes=[h for h in ordered if accounts.get(h) == account_id],
                deadline=deadline,
                created=created,
                must_ask=must_ask,
                provider=provider_for(account_id=account_id),
            )
            for payment_hash, answer in polled:
                pk, amount = rows[payment_hash]
                counts.update(_act(pk, payment_hash, amount, answer, asked_from))
                left.discard(pk)
    except SoftTimeLimitExceeded:
        release(PaymentSplit, left, lease)
        raise
    counts["poll_deferred"] += release(PaymentSplit, left, lease)
    return +counts


def _claim(now: datetime, lease: datetime, batch_size: int) -> list[int]:
    lookback = timedelta(days=int(getattr(settings, "UNPAID_POLL_LOOKBACK_DAYS", 7)))
    still_payable = Q(status=S.PENDING) | Q(
        status__in=LATE, unpaid_confirmed_at__isnull=True, expires_at__gt=now - lookback
    )
    # Rows never polled (or released by an interrupted pass) first, then the least recently polled:
    # a backlog larger than one pass is worked through, not starved at its tail.
    qs = (
        PaymentSplit.objects.filter(still_payable)
        .filter(due(now))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "expires_at")
    )
    return claim_ids(qs, PaymentSplit, lease, batch_size)


def _act(pk: int, payment_hash: str, amount: int, answer: PollAnswer, asked_from: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    if isinstance(answer, InvoiceNotFound):
        log.error("reconcile.invoice_not_found", split_id=pk, payment_hash=payment_hash)
        counts["errors"] += 1
        return counts
    if isinstance(answer, WalletError):
        log.warning("reconcile.poll_failed", split_id=pk, error_code=answer.code)
        counts["errors"] += 1
        return counts
    counts["polled"] += 1
    if answer.state is InvoiceState.PAID:
        outcome = payment_detected(
            payment_hash=payment_hash, amount_sats=amount, source="reconciler", preimage=answer.preimage
        )
        counts["detected"] += outcome in PAID_OUTCOMES
    elif answer.state is InvoiceState.EXPIRED:
        # Final only when asked after Blink's expiry plus the margin; the update is conditional, so a
        # split paid meanwhile is never marked.
        confirmed = PaymentSplit.objects.filter(
            pk=pk, status__in=LATE, unpaid_confirmed_at__isnull=True, expires_at__lte=asked_from - margin()
        ).update(unpaid_confirmed_at=timezone.now())
        counts["confirmed_unpaid"] += confirmed
    return counts
