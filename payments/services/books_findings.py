"""The books' judgements: every difference between Blink's ledger of one platform account's wallet (as
mirrored in ``books_transactions``) and ours, and the balance we should hold there. Reads only;
``books.py`` writes. ``Scope`` limits every read to one account: its transactions, the splits created on
it, their legs and the unmatched money it received.

Each check looks at the whole mirror, not only the range the run just walked: a difference an operator
fixed closes at the next run, and one that is still there is found again (and kept as one open row).

Amounts: a send's ``amount_sats`` is Blink's signed ``settlementAmount`` (the wallet's debit, fee
included) and ``fee_sats`` its fee, so what reached the recipient is ``-amount_sats - fee_sats``. A
reimbursement (a RECEIVE under a payout invoice's hash, docs/ARCHITECTURE.md "Blink, as BlinkPOS uses
it") gives a send back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, ExpressionWrapper, F, IntegerField, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import (
    BooksTransaction,
    DifferenceKind,
    LegStatus,
    PaymentLeg,
    PaymentSplit,
    SplitStatus,
    UnmatchedPayment,
)
from payments.services.books_pools import pool_balance_parts, pool_payout_hashes
from payments.services.books_refunds import refund_balance_parts, refund_hashes, refund_payout_hashes

RECEIVE, SEND, SUCCESS, PENDING = "RECEIVE", "SEND", "SUCCESS", "PENDING"
# Splits whose money we received (failed: received, forwarding needs an operator).
PAID_STATES = (SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.COMPLETED, SplitStatus.FAILED)
UNPAID_STATES = (SplitStatus.PENDING, SplitStatus.EXPIRED, SplitStatus.CANCELLED)
# Legs that must not have been paid yet: a debit for one of these is money we did not record.
UNPAID_LEG_STATES = (LegStatus.PLANNED, LegStatus.INVOICE_READY, LegStatus.FAILED)
BALANCE_KEY = "platform_wallet"  # the default account's; another account's is "platform_wallet:<id>"
_ZERO = Value(0)


@dataclass(frozen=True)
class Scope:
    """One platform account (None: the default account of the BLINK_* settings)."""

    account_id: int | None = None

    def txs(self) -> QuerySet[BooksTransaction]:
        return BooksTransaction.objects.filter(platform_account_id=self.account_id)

    def splits(self) -> QuerySet[PaymentSplit]:
        return PaymentSplit.objects.filter(platform_account_id=self.account_id)

    def legs(self) -> QuerySet[PaymentLeg]:
        return PaymentLeg.objects.filter(split__platform_account_id=self.account_id)

    def unmatched(self) -> QuerySet[UnmatchedPayment]:
        return UnmatchedPayment.objects.filter(platform_account_id=self.account_id)

    @property
    def balance_key(self) -> str:
        return BALANCE_KEY if self.account_id is None else f"{BALANCE_KEY}:{self.account_id}"


@dataclass(frozen=True, kw_only=True)
class Finding:
    kind: str
    key: str
    expected_sats: int | None
    actual_sats: int | None
    payment_hash: str = ""
    blink_tx_id: str = ""
    split_id: int | None = None
    leg_id: int | None = None
    detail: str = ""


@dataclass(kw_only=True)
class Balance:
    actual: int
    parts: dict[str, int] = field(default_factory=dict)

    @property
    def expected(self) -> int:
        p = self.parts
        return (
            p["opening"]
            + p["held"]
            + p["received"]
            + p["unmatched"]
            - p["forwarded"]
            - p["fees"]
            - p["sent_for_legs_not_succeeded"]
            + p.get("refunds_funded", 0)
            - p.get("refunds_paid_out", 0)
            - p.get("sent_for_refunds_not_paid", 0)
            # Pool payouts (books_pools.py); "pooled_tips_waiting" is informational (inside "received").
            - p.get("pool_paid_out", 0)
            - p.get("sent_for_pool_payouts_not_paid", 0)
        )


def _sum(qs: QuerySet[Any], expression: Any) -> int:
    return int(qs.aggregate(total=Coalesce(Sum(expression), _ZERO))["total"])


def _legs_with_blink_totals(scope: Scope) -> QuerySet[Any]:
    # Typed Any: the annotations below are what the callers filter on and read.
    """Legs with what Blink shows for every payout invoice committed for them: successful sends, their
    reimbursements, the sats that reached the recipient and the fees."""
    send_ok = Q(books_transactions__direction=SEND, books_transactions__status=SUCCESS)
    # A RECEIVE smaller than the payout invoice is the unused routing fee Blink gives back after an
    # outside payment (payments/wallet/mapping.py): the send stands. A refund returns at least that.
    receive = Q(books_transactions__direction=RECEIVE, books_transactions__status=SUCCESS)
    fee_back = receive & Q(books_transactions__amount_sats__lt=Coalesce(F("payout_amount"), F("amount")))
    refund = receive & ~Q(books_transactions__amount_sats__lt=Coalesce(F("payout_amount"), F("amount")))
    principal = ExpressionWrapper(
        -F("books_transactions__amount_sats") - F("books_transactions__fee_sats"), output_field=IntegerField()
    )
    return (
        scope.legs()
        .annotate(
            sends=Count("books_transactions", filter=send_ok),
            refunds=Count("books_transactions", filter=refund),
            sent=Coalesce(Sum(principal, filter=send_ok), _ZERO),
            refunded=Coalesce(Sum("books_transactions__amount_sats", filter=refund), _ZERO),
            blink_fees=Coalesce(Sum("books_transactions__fee_sats", filter=send_ok), _ZERO),
            fees_back=Coalesce(Sum("books_transactions__amount_sats", filter=fee_back), _ZERO),
        )
        .annotate(net_sends=F("sends") - F("refunds"), net_sent=F("sent") - F("refunded"))
    )


def coverage_start(scope: Scope) -> datetime | None:
    """When the account's mirrored history begins: nothing older can be judged against Blink."""
    return scope.txs().aggregate(first=Min("created_at"))["first"]


def _receipts(judged_before: datetime, scope: Scope) -> list[Finding]:
    found: list[Finding] = []
    resolved = set(UnmatchedPayment.objects.filter(resolved_at__isnull=False).values_list("payment_hash", flat=True))
    orphans = (
        scope.txs()
        .filter(direction=RECEIVE, status=SUCCESS, split__isnull=True, leg__isnull=True, created_at__lt=judged_before)
        .exclude(payment_hash__in=refund_hashes())  # a refund's funding, or a fee back on its payout
        .exclude(payment_hash__in=pool_payout_hashes())  # a fee given back on a pool payout
        .order_by("created_at", "id")
    )
    for tx in orphans:
        if (tx.payment_hash or tx.blink_id) in resolved:
            continue  # an operator recorded how it was settled (unmatched payments admin)
        found.append(
            Finding(
                kind=DifferenceKind.RECEIVED_WITHOUT_SPLIT,
                key=tx.blink_id,
                expected_sats=0,
                actual_sats=tx.amount_sats,
                payment_hash=tx.payment_hash,
                blink_tx_id=tx.blink_id,
                detail="Recorded in unmatched payments; resolve it there once settled.",
            )
        )
    paid_unpaid = (
        scope.txs()
        .filter(direction=RECEIVE, status=SUCCESS, split__status__in=UNPAID_STATES)
        .filter(created_at__lt=judged_before)
        .select_related("split")
        .order_by("created_at", "id")
    )
    for tx in paid_unpaid:
        assert tx.split is not None
        found.append(
            Finding(
                kind=DifferenceKind.SPLIT_UNPAID_BUT_PAID,
                key=tx.payment_hash,
                expected_sats=0,
                actual_sats=tx.amount_sats,
                payment_hash=tx.payment_hash,
                blink_tx_id=tx.blink_id,
                split_id=tx.split_id,
                detail=f"The split is {tx.split.status}; Blink received {tx.amount_sats} sats for it.",
            )
        )
    start = coverage_start(scope)
    if start is not None:
        received = scope.txs().filter(direction=RECEIVE, status=SUCCESS, split_id__isnull=False)
        missing = (
            scope.splits()
            .filter(status__in=PAID_STATES, paid_at__lt=judged_before, created_at__gte=start)
            .exclude(pk__in=received.values("split_id"))
            .order_by("paid_at", "id")
        )
        for split in missing:
            found.append(
                Finding(
                    kind=DifferenceKind.SPLIT_PAID_NOT_RECEIVED,
                    key=split.payment_hash,
                    expected_sats=split.received_amount if split.received_amount is not None else split.total_amount,
                    actual_sats=0,
                    payment_hash=split.payment_hash,
                    split_id=split.pk,
                    detail=f"The split is {split.status}; Blink's history has no receipt for it.",
                )
            )
    return found


def _sends(scope: Scope) -> list[Finding]:
    unknown = (
        scope.txs()
        .filter(direction=SEND, status__in=(SUCCESS, PENDING), leg__isnull=True)
        .order_by("created_at", "id")
        .exclude(payment_hash__in=refund_payout_hashes())  # a customer refund's payout
        .exclude(payment_hash__in=pool_payout_hashes())  # a shift's pool payout
        .order_by("created_at", "id")
    )
    return [
        Finding(
            kind=DifferenceKind.UNKNOWN_SEND,
            key=tx.blink_id,
            expected_sats=0,
            actual_sats=-tx.amount_sats,
            payment_hash=tx.payment_hash,
            blink_tx_id=tx.blink_id,
            detail=f"{tx.status} send of {-tx.amount_sats} sats (fee {tx.fee_sats}) for no payout invoice of ours.",
        )
        for tx in unknown
    ]


def _leg_finding(kind: str, leg: Any, expected: int | None, actual: int | None, detail: str) -> Finding:
    return Finding(
        kind=kind,
        key=str(leg.pk),
        expected_sats=expected,
        actual_sats=actual,
        payment_hash=leg.payment_hash or "",
        split_id=leg.split_id,
        leg_id=leg.pk,
        detail=detail,
    )


def _legs(judged_before: datetime, scope: Scope) -> list[Finding]:
    found: list[Finding] = []
    legs = _legs_with_blink_totals(scope)
    start = coverage_start(scope)
    if start is not None:
        succeeded = legs.filter(status=LegStatus.SUCCEEDED, succeeded_at__lt=judged_before, succeeded_at__gte=start)
        for leg in succeeded.filter(net_sends__lt=1).order_by("pk"):
            found.append(
                _leg_finding(
                    DifferenceKind.LEG_NOT_AT_BLINK,
                    leg,
                    leg.amount,
                    leg.net_sent,
                    f"Succeeded here; Blink shows {leg.sends} send(s) and {leg.refunds} reimbursement(s).",
                )
            )
    for leg in legs.filter(net_sends__gt=1).order_by("pk"):
        found.append(
            _leg_finding(
                DifferenceKind.LEG_PAID_TWICE,
                leg,
                leg.amount,
                leg.net_sent,
                f"Blink shows {leg.sends} successful send(s) and {leg.refunds} reimbursement(s); status {leg.status}.",
            )
        )
    for leg in legs.filter(status__in=UNPAID_LEG_STATES, net_sends=1).order_by("pk"):
        found.append(
            _leg_finding(
                DifferenceKind.LEG_PAID_NOT_RECORDED, leg, 0, leg.net_sent, f"The leg is {leg.status}; Blink paid it."
            )
        )
    fee_differs = ~Q(blink_fees=Coalesce(F("fee_sats"), _ZERO))
    for leg in legs.filter(fee_differs, status=LegStatus.SUCCEEDED, net_sends=1).order_by("pk"):
        found.append(
            _leg_finding(
                DifferenceKind.FEE_MISMATCH,
                leg,
                leg.fee_sats or 0,
                leg.blink_fees,
                f"Fee recorded {leg.fee_sats if leg.fee_sats is not None else 'none'}; Blink charged {leg.blink_fees}.",
            )
        )
    return found


def balance_measure(*, actual: int, opening: int, held: int, scope: Scope | None = None) -> Balance:
    """What the account's wallet should hold by our books, next to what Blink says it holds.

    received (paid splits) + unmatched payments - forwarded (succeeded legs) - their fees - what Blink
    debited for legs we do not count as forwarded (in flight, failed or resolved: reported on their own
    when they should not have been paid) + the opening balance + ``BOOKS_HELD_SATS``.
    """
    scope = scope or Scope()
    splits = scope.splits().filter(status__in=PAID_STATES)
    succeeded = scope.legs().filter(status=LegStatus.SUCCEEDED)
    open_legs = _legs_with_blink_totals(scope).exclude(status=LegStatus.SUCCEEDED).filter(net_sends__gt=0)
    sent_open = sum(leg.net_sent + leg.blink_fees - leg.fees_back for leg in open_legs)
    reimbursed = scope.txs().filter(direction=RECEIVE, leg__isnull=False).values("payment_hash")
    pending = (
        scope.txs().filter(direction=SEND, status=PENDING, leg__isnull=False).exclude(leg__status=LegStatus.SUCCEEDED)
    )
    parts = {
        "opening": opening,
        "held": held,
        "received": _sum(splits, Coalesce("received_amount", "total_amount")),
        # A reimbursement of one of our sends may also be in unmatched payments (the webhook found no
        # split for its hash): it is counted with its leg instead.
        "unmatched": _sum(scope.unmatched().exclude(payment_hash__in=reimbursed), "amount"),
        # What reached the recipient: the payout invoice (less than the share when they paid its fee).
        "forwarded": _sum(succeeded, Coalesce("payout_amount", "amount")),
        # Charged less what Blink gave back of it (an outside payment's unused routing fee).
        "fees": _sum(succeeded, Coalesce("fee_sats", _ZERO) - Coalesce("fee_reimbursed_sats", _ZERO)),
        # A PENDING send is already debited by Blink: count it with the leg it belongs to.
        "sent_for_legs_not_succeeded": sent_open + -_sum(pending, "amount_sats"),
        # Refunds: funding held for customers until paid out (payments/services/books_refunds.py).
        **refund_balance_parts(),
        # Pooled tips: held for staff until their shift's payouts leave (payments/services/books_pools.py).
        **pool_balance_parts(),
    }
    return Balance(actual=actual, parts=parts)


def findings_collect(*, judged_before: datetime, balance: Balance | None, scope: Scope | None = None) -> list[Finding]:
    """Every difference of the account's wallet, in a stable order (kind by kind, oldest first)."""
    scope = scope or Scope()
    found = _receipts(judged_before, scope) + _sends(scope) + _legs(judged_before, scope)
    if balance is not None and balance.expected != balance.actual:
        gap = balance.actual - balance.expected
        found.append(
            Finding(
                kind=DifferenceKind.BALANCE_MISMATCH,
                key=scope.balance_key,
                expected_sats=balance.expected,
                actual_sats=balance.actual,
                detail=f"Blink holds {gap:+d} sats compared with our books.",
            )
        )
    return found
