"""Detecting that a customer paid (docs/ARCHITECTURE.md, Flows 2): one idempotent entry point for the webhook worker,
the reconciler's status poll and a terminal's "check".

PostgreSQL decides: the split row is locked and its status checked; a second detection of the same
payment (a duplicate webhook, the poll racing the webhook) finds it already paid and does nothing.
Money for no known split becomes one ``unmatched_payments`` row (unique on the hash) for an
operator. Forwarding is enqueued only after the commit, with ids only, unless the caller forwards
itself (the webhook worker does, in the same task: ``enqueue=False``; it begins the forward in this
same transaction from ``Detection.split``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import PaymentEvent, PaymentLeg, PaymentSplit, Refund, SplitStatus, UnmatchedPayment
from payments.platform_accounts import provider_for
from payments.services.enqueue import enqueue_forward
from payments.services.refunds import refund_funding_received_locked
from payments.services.transitions import lock_split, transition_split
from payments.wallet.types import InvoiceState, preimage_matches

log = get_logger(__name__)

S = SplitStatus
LATE_FROM = frozenset({S.EXPIRED, S.CANCELLED})
# Outcomes after which the split is ``paid`` by THIS detection, so forwarding is owed.
PAID_OUTCOMES = frozenset({"paid", "paid_late"})
# A split in any other status was detected before: a new detection changes nothing (bar the proof).
DETECTABLE = (S.PENDING, *sorted(LATE_FROM))
ALREADY_HANDLED = "already_handled"


@dataclass(frozen=True, slots=True)
class AccountScope:
    """Detection limited to the splits of one platform account (None: the default account): a webhook
    is about its own account's wallet only, so it never acts on another account's sale."""

    account_id: int | None


OTHER_ACCOUNT = "ignored_other_account"


@dataclass(frozen=True, slots=True)
class Detection:
    outcome: str
    split_id: int | None = None  # set for ``paid`` / ``paid_late``: the split whose forwarding is owed
    # That split, as locked and updated by the detection's transaction (a caller that forwards in the
    # same transaction goes on from it: ``forwarding.forward_begin_locked``).
    split: PaymentSplit | None = field(default=None, compare=False, repr=False)


def payment_detected(*, payment_hash: str, amount_sats: int | None, source: str, preimage: str | None = None) -> str:
    """Record that the platform wallet received the payment for ``payment_hash``.

    Returns ``paid`` / ``paid_late`` (a transition happened; forwarding enqueued after commit),
    ``already_handled``, ``unmatched`` / ``unmatched_duplicate`` (no split: recorded for an operator),
    ``payout_refund`` (money Blink returned under one of our payout invoices' hashes: that leg's) or
    ``refund_funded`` / ``refund_already_funded`` / ``refund_funding_late`` (a refund's funding invoice) or
    ``rejected`` (a preimage that does not hash to the payment hash: nothing recorded; the
    reconciler's own status poll still finds a real payment).

    Runs in its own transaction, or inside the caller's. Never calls the provider.
    """
    if preimage and not preimage_matches(preimage=preimage, payment_hash=payment_hash.lower()):
        log.error("detection.preimage_mismatch", payment_hash=payment_hash.lower(), source=source)
        return "rejected"
    found = detect(
        payment_hash=payment_hash,
        amount_sats=amount_sats,
        source=source,
        preimage_verified=bool(preimage),
        preimage=(preimage or "").lower(),
    )
    return found.outcome


def detect(
    *,
    payment_hash: str,
    amount_sats: int | None,
    source: str,
    preimage_verified: bool,
    enqueue: bool = True,
    account: AccountScope | None = None,
    preimage: str = "",
) -> Detection:
    """``payment_detected`` for a caller that has already checked the preimage (if one was given).

    ``preimage`` (checked against the hash by the caller) is stored on the split as the customer's
    proof of payment for the receipt, also when the split was already paid without one.

    ``enqueue=False``: the caller forwards ``Detection.split_id`` itself after its transaction commits
    (the webhook worker, in the same task; the reconciler's ``paid`` sweep re-enqueues it if that
    worker dies first). Otherwise ``forward_split_task`` is published after commit. ``account``: act
    only on a split of that platform account; another account's split is left untouched
    (``ignored_other_account``, logged for an operator). None: the caller asked the split's own account.
    """
    payment_hash = payment_hash.lower()
    # No savepoint when a caller's transaction is open (the webhook worker's): an error here aborts the
    # caller's transaction anyway, and the savepoint would cost two statements per payment.
    with transaction.atomic(savepoint=False):
        split = lock_split(payment_hash=payment_hash)
        if split is None:
            # A refund's funding invoice, paid by the merchant (payments/services/refunds.py).
            funded = refund_funding_received_locked(payment_hash=payment_hash, amount_sats=amount_sats, source=source)
            if funded is not None:
                return Detection(funded)
            if _our_payout_invoice(payment_hash):
                # Blink returning part of a routing fee (or all of a failed outside payment) to the
                # platform wallet under a payout invoice's hash: that leg's money, which the forward reads
                # from the ledger and the books match to the leg, not a stranger's payment.
                log.info("detection.payout_refund", payment_hash=payment_hash, amount_sats=amount_sats, source=source)
                return Detection("payout_refund")
            return Detection(
                _unmatched(
                    payment_hash=payment_hash,
                    amount_sats=amount_sats,
                    source=source,
                    account_id=None if account is None else account.account_id,
                )
            )
        if account is not None and split.platform_account_id != account.account_id:
            log.error(
                "detection.other_account",
                payment_hash=payment_hash,
                split_id=split.pk,
                split_account=split.platform_account_id,
                delivered_to=account.account_id,
                source=source,
            )
            return Detection(OTHER_ACCOUNT)
        if split.status not in DETECTABLE:
            if preimage and not split.preimage:
                PaymentSplit.objects.filter(pk=split.pk, preimage="").update(preimage=preimage)
            return Detection(ALREADY_HANDLED)
        event_type = "paid" if split.status == S.PENDING else "paid_late"
        received = amount_sats if amount_sats is not None else (split.invoice_satoshis or split.total_amount)
        if received != split.total_amount:
            # Blink invoices carry a fixed amount, so this is not expected; the forwarder's conservation
            # check will hold the split for an operator rather than forward a wrong sum.
            log.error(
                "detection.amount_mismatch", payment_hash=payment_hash, received=received, total=split.total_amount
            )
        transition_split(
            split,
            S.PAID,
            event_type=event_type,
            data={
                "source": source,
                "amount_sats": received,
                "preimage_verified": preimage_verified,
                "previous_status": split.status,
            },
            received_amount=received,
            paid_at=timezone.now(),
            next_attempt_at=None,
            **({"preimage": preimage} if preimage and not split.preimage else {}),
        )
        split_id = split.pk
        if enqueue:
            transaction.on_commit(lambda: enqueue_forward(split_id))
    log.info("detection.paid", payment_hash=payment_hash, split_id=split_id, source=source, outcome=event_type)
    return Detection(event_type, split_id, split)


def _our_payout_invoice(payment_hash: str) -> bool:
    """Whether this is the hash of a payout invoice we committed for a leg (its current one, or any
    earlier one its events record)."""
    if PaymentLeg.objects.filter(payment_hash=payment_hash).exists():
        return True
    if Refund.objects.filter(payout_hash=payment_hash).exists():  # a customer refund's payout
        return True
    return PaymentEvent.objects.filter(
        event_type__in=("leg_invoice_created", "refund_payout_committed"), event_data__payout_hash=payment_hash
    ).exists()


def _unmatched(*, payment_hash: str, amount_sats: int | None, source: str, account_id: int | None) -> str:
    try:
        with transaction.atomic():
            UnmatchedPayment.objects.create(
                platform_account_id=account_id,  # the account whose wallet received it (its books count it)
                payment_hash=payment_hash,
                amount=max(amount_sats or 0, 0),
                event_data={"source": source, "amount_sats": amount_sats},
            )
    except IntegrityError:
        return "unmatched_duplicate"
    log.warning("detection.unmatched_payment", payment_hash=payment_hash, amount_sats=amount_sats, source=source)
    return "unmatched"


def payment_check(*, split: PaymentSplit, source: str = "check") -> str:
    """Ask the provider about the split's invoice right now; if it is PAID, run ``payment_detected``.

    The caller's word is never trusted: only the provider's answer can mark a split paid. Returns the
    detection outcome when paid, else the invoice state (``pending`` / ``expired``). Raises the
    provider's errors (``WalletUnavailable``, ``InvoiceNotFound``...). Never inside a transaction.
    """
    status = provider_for(account_id=split.platform_account_id).invoice_status(payment_hash=split.payment_hash)
    if status.state is InvoiceState.PAID:
        return payment_detected(
            payment_hash=split.payment_hash,
            amount_sats=split.invoice_satoshis or split.total_amount,
            source=source,
            preimage=status.preimage,
        )
    return status.state.value.lower()
