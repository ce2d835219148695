"""Blink's Svix webhooks (docs/ARCHITECTURE.md: money rule 4; Blink: webhooks): acknowledge first, act in a worker.

Why the split: Svix (and a backlog it retries) sends deliveries concurrently and counts slow answers
as failures. Acting inside the request (lock the split, transition, audit event, hot store, publish the
forward) cost ~15 SQL statements and ~11 CPU ms per delivery on the web workers, so a burst queued
behind itself (ack p99 4.7 s in the bench). Now the request does only what must happen before "200":

``webhook_receive`` (the view)
  1. verifies the Svix signature over the RAW body with each secret of the platform account whose
     endpoint was called (``/webhooks/blink``: the default account's ``BLINK_WEBHOOK_SECRET``;
     ``/webhooks/blink/<token>``: that account's; several during a rotation; svix refuses timestamps
     more than 5 minutes off);
  2. parses and classifies: non-receive events, other wallets, unsettled receives, missing hashes,
     out-of-range amounts and preimages that do not hash to the payment hash get their final outcome
     here (cheap, no task). For a settled receive it keeps the payment hash, the amount and whether
     the preimage verified; a verified preimage goes only to its split's ``preimage`` column (the
     customer's proof on the receipt), never to the delivery row, a log or a message;
  3. records the delivery, with the account it came to, in ONE autocommitted statement,
     ``INSERT ... ON CONFLICT (svix_id) DO NOTHING RETURNING id, outcome`` (with a verified preimage,
     preceded in the same statement by the split's ``UPDATE ... WHERE preimage = ''``): no row back
     means a redelivery, acknowledged without work. For a settled receive the same statement checks
     the split: one of this account already past detection (the terminal's check, the status poll or
     an earlier delivery saw the payment first) is recorded ``already_handled`` at once, exactly what
     the worker would record, and needs no task;
  4. otherwise (``queued``) after that commit publishes ``webhook_delivery_task(delivery_id)`` (an id,
     nothing else).

``delivery_process`` (the worker) locks the delivery row, runs ``detect`` for it (limited to splits of
the delivery's account: a webhook signed for account A naming a sale of account B is recorded as
``ignored_other_account`` and touches nothing) and stores the final outcome in the same transaction,
then forwards the split in the same task (no second Celery hop): ``forward_split`` is idempotent and
safe concurrently with itself, so a redelivered message, two workers or the reconciler's own forward of
the same split cannot pay a leg twice.

A lost publish (broker down, process killed between commit and publish) leaves the row ``queued``;
``deliveries_sweep`` (run by the reconciler every ~20 s) acts on rows still queued after a grace
period. The outcome column is the audit trail: ``queued`` until acted on, then final.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, OperationalError, connection, router, transaction
from django.db.models import QuerySet
from django.utils import timezone
from svix.webhooks import Webhook, WebhookVerificationError

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import PaymentSplit, PlatformAccount, WebhookDelivery
from payments.models.inbound import DELIVERY_QUEUED
from payments.platform_accounts import wallet_id_of, webhook_secrets_of
from payments.prepared import values_rows
from payments.services.detection import ALREADY_HANDLED, DETECTABLE, PAID_OUTCOMES, AccountScope, detect
from payments.services.enqueue import enqueue_webhook_delivery
from payments.services.forwarding import (
    ForwardBegun,
    forward_abandon,
    forward_begin_locked,
    forward_resume,
    forward_split,
)
from payments.services.row_sql import update_fields
from payments.statements import statement_cursor
from payments.wallet.types import preimage_matches

log = get_logger(__name__)

SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_BIGINT_MAX = 2**63 - 1
QUEUED = DELIVERY_QUEUED
# The view's answer for a redelivery; never stored (the first delivery's row keeps its own outcome).
DUPLICATE = "duplicate"
# Final outcome of a queued delivery that detection could not act on (a bug or data PostgreSQL
# refuses): recorded so the sweep does not retry it forever. No money is lost: the split stays
# unpaid in PostgreSQL and the reconciler's status poll asks Blink about it.
PROCESSING_ERROR = "error"


class WebhookRejected(ApplicationError):
    """The signature did not verify (or no secret is configured). The message is generic: the caller
    learns nothing about why; ``reason`` is for the log only."""

    code = "invalid_signature"
    http_status = 401

    def __init__(self, reason: str) -> None:
        super().__init__("Webhook signature verification failed.")
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookAck:
    """What the view answers: ``outcome`` is ``queued`` (a worker will act) or the final classification
    made in the view (``ignored``, ``ignored_other_wallet``, ``rejected``...), or ``duplicate``."""

    svix_id: str
    event_type: str
    outcome: str
    duplicate: bool = False
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Classified:
    event_type: str
    payment_hash: str
    outcome: str
    amount_sats: int | None = None
    preimage_verified: bool = False
    preimage: str = field(default="", repr=False)


# --- the view's part -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _verifier(secret: str) -> Webhook:
    # Decoding the base64 secret once per secret rather than once per delivery and secret. Keyed by the
    # secret itself, so a rotation (new settings) simply adds entries; bounded for tests that swap many.
    return Webhook(secret)


def signature_verify(*, body: bytes, headers: Mapping[str, str], account: PlatformAccount | None = None) -> None:
    """Raise ``WebhookRejected`` unless one secret of ``account`` (None: the default account)
    verifies ``body`` with ``headers``."""
    svix_headers = {name: headers.get(name, "") for name in SVIX_HEADERS}
    if not all(svix_headers.values()):
        raise WebhookRejected("missing svix headers")
    configured = webhook_secrets_of(account)
    if not configured:
        log.error("webhook.no_secret_configured")
        raise WebhookRejected("no webhook secret configured")
    last = "no secret verified"
    for secret in configured:
        try:
            _verifier(secret).verify(body, svix_headers)
            return
        except WebhookVerificationError as exc:
            last = str(exc)
        except Exception as exc:  # a malformed secret or signature header: try the others, say which kind
            last = f"unusable secret or signature ({type(exc).__name__})"
    raise WebhookRejected(last)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,30}", value.strip()):
        return int(value.strip())
    return None


def _payment_hash(transaction_body: Mapping[str, Any]) -> str:
    initiation = transaction_body.get("initiationVia")
    candidate = initiation.get("paymentHash") if isinstance(initiation, Mapping) else None
    if isinstance(candidate, str) and _HASH.match(candidate.lower()):
        return candidate.lower()
    # Fallback: our invoices carry the split's externalId. Blink sends the hash for lightning receives,
    # so this query is not on the usual path.
    external_id = transaction_body.get("externalId")
    if isinstance(external_id, str) and external_id:
        found = PaymentSplit.objects.filter(external_id=external_id).values_list("payment_hash", flat=True).first()
        if found:
            return found
    return ""


def _classify(payload: Mapping[str, Any], svix_id: str, platform_wallet: str) -> _Classified:
    # PostgreSQL text cannot hold NUL: a signed body carrying one must still be recorded, not a 500.
    event_type = str(payload.get("eventType") or "").replace("\x00", "")[:50]
    raw_tx = payload.get("transaction")
    tx: Mapping[str, Any] = raw_tx if isinstance(raw_tx, Mapping) else {}
    if event_type != "receive.lightning":
        return _Classified(event_type, "", "ignored")  # our own send.* events, other receive types, future types
    payment_hash = _payment_hash(tx)
    if platform_wallet and payload.get("walletId") not in (None, platform_wallet):
        return _Classified(event_type, payment_hash, "ignored_other_wallet")
    if tx.get("status") != "success":
        return _Classified(event_type, payment_hash, "ignored_not_success")  # pending receives settle later
    if not payment_hash:
        log.error("webhook.receive_without_hash", svix_id=svix_id)
        return _Classified(event_type, "", "ignored_no_hash")
    amount = _as_int(tx.get("settlementAmount"))
    if amount is not None and not 0 <= amount <= _BIGINT_MAX:
        # Authentic (signed) but impossible for a receive. Detection would fail on it in the worker
        # (received_amount is a non-negative BIGINT); the reconciler's status poll asks Blink instead.
        log.error("webhook.receive_amount_out_of_range", svix_id=svix_id, payment_hash=payment_hash)
        return _Classified(event_type, payment_hash, "ignored_bad_amount")
    settlement = tx.get("settlementVia")
    preimage = settlement.get("revealedPreImage") if isinstance(settlement, Mapping) else None
    verified = False
    if isinstance(preimage, str) and preimage:
        # sha256 of ~32 bytes: microseconds, and it keeps the preimage out of everything we store.
        if not preimage_matches(preimage=preimage, payment_hash=payment_hash):
            log.error("webhook.preimage_mismatch", svix_id=svix_id, payment_hash=payment_hash)
            return _Classified(event_type, payment_hash, "rejected", amount_sats=amount)
        verified = True
    return _Classified(
        event_type,
        payment_hash,
        QUEUED,
        amount_sats=amount,
        preimage_verified=verified,
        preimage=preimage.lower() if verified and isinstance(preimage, str) else "",
    )


# One statement, autocommitted (ATOMIC_REQUESTS is off): the unique svix_id decides duplicates
# without a savepoint, an exception or a second round trip. Final outcomes get processed_at at once.
_INSERT = (  # both statements below write these columns, in this order
    "INSERT INTO webhook_deliveries (svix_id, event_type, payment_hash, source_ip, outcome, received_at,"
    " amount_sats, preimage_verified, processed_at, platform_account_id)"
)
_RECORD_SQL = (
    _INSERT + " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (svix_id) DO NOTHING RETURNING id, outcome"
)
# A settled receive for a split of this account that is already past detection (paid, forwarding,
# completed, failed: the terminal's check, the status poll or an earlier delivery saw it first) is
# final here, as the worker's ``detect`` would record it (``already_handled``, nothing else changes):
# no task, no worker. The status read is the same statement's snapshot; a split still pending (or
# being detected right now) gets ``queued`` and the worker decides under the split's row lock.
_SETTLED_RECEIVE_SQL = (
    _INSERT + " SELECT %s, %s, %s, %s, CASE WHEN known.handled THEN %s ELSE %s END, %s, %s, %s,"  # noqa: S608 - constants only
    " CASE WHEN known.handled THEN %s END, %s"
    " FROM (SELECT EXISTS (SELECT 1 FROM payment_splits WHERE payment_hash = %s"
    " AND platform_account_id IS NOT DISTINCT FROM %s AND status <> ALL (%s)) AS handled) AS known"
    " ON CONFLICT (svix_id) DO NOTHING RETURNING id, outcome"
)
_DETECTABLE = [str(status) for status in DETECTABLE]
# The verified preimage rides in the same statement (a data-modifying CTE runs whatever the INSERT
# does): the receipt's proof costs the acknowledgement no extra round trip. Redeliveries change nothing.
_PROOF_CTE = (
    "WITH proof AS (UPDATE payment_splits SET preimage = %s WHERE payment_hash = %s AND preimage = ''"
    " AND platform_account_id IS NOT DISTINCT FROM %s) "  # only a split of the account this came to
)


def _record(svix_id: str, event: _Classified, source_ip: str | None, account_id: int | None) -> tuple[int, str] | None:
    """The delivery's row: (id, outcome as stored), or None for a redelivered svix-id."""
    now = timezone.now()
    ip = connection.ops.adapt_ipaddressfield_value(source_ip)
    head = (svix_id, event.event_type, event.payment_hash, ip)
    params: tuple[Any, ...]
    if event.outcome == QUEUED:
        known = (event.payment_hash, account_id, _DETECTABLE)
        tail = (now, event.amount_sats, event.preimage_verified, now, account_id, *known)
        sql, params = _SETTLED_RECEIVE_SQL, (*head, ALREADY_HANDLED, QUEUED, *tail)
    else:
        sql = _RECORD_SQL
        params = (*head, event.outcome, now, event.amount_sats, event.preimage_verified, now, account_id)
    if event.preimage:
        sql, params = _PROOF_CTE + sql, (event.preimage, event.payment_hash, account_id, *params)
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else None


def webhook_receive(
    *, body: bytes, headers: Mapping[str, str], source_ip: str | None, account: PlatformAccount | None = None
) -> WebhookAck:
    """Verify, classify and record one delivery to ``account``'s endpoint (None: the default account's);
    publish the worker's task when there is work.

    Raises ``WebhookRejected`` (answer 401) or ``ValueError`` for a correctly signed body that is not a
    JSON object (answer 400); nothing is written in either case."""
    signature_verify(body=body, headers=headers, account=account)
    svix_id = headers["svix-id"][:100]
    payload = json.loads(body)  # ValueError for junk; signed junk is still junk
    if not isinstance(payload, dict):
        raise ValueError("webhook body is not a JSON object")
    account_id = None if account is None else account.pk
    event = _classify(payload, svix_id, wallet_id_of(account_id) if account is None else account.wallet_id)
    recorded = _record(svix_id, event, source_ip, account_id)
    if recorded is None:
        log.info("webhook.duplicate", svix_id=svix_id, event_type=event.event_type)
        return WebhookAck(svix_id=svix_id, event_type=event.event_type, outcome=DUPLICATE, duplicate=True)
    delivery_id, outcome = recorded
    if outcome == QUEUED:
        # Immediately when autocommitting (the view); after the outer commit inside a transaction
        # (tests), so a worker never looks for a row it cannot see yet.
        transaction.on_commit(lambda: enqueue_webhook_delivery(delivery_id))
    log.info(
        "webhook.received",
        svix_id=svix_id,
        delivery_id=delivery_id,
        event_type=event.event_type,
        payment_hash=event.payment_hash,
        outcome=outcome,
    )
    return WebhookAck(svix_id=svix_id, event_type=event.event_type, outcome=outcome, delivery_id=delivery_id)


# --- the worker's part -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Applied:
    outcome: str
    payment_hash: str
    split_id: int | None  # the split whose forwarding is owed (paid / paid_late), else None
    fresh: bool  # this call acted on the delivery (False: it was final already)
    begun: ForwardBegun | None = None  # that forward's first step, committed with the detection


def _delivery_locked(delivery_id: int, *, skip_locked: bool) -> QuerySet[WebhookDelivery, tuple[Any, ...]]:
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=skip_locked)
        .filter(pk=delivery_id)
        .order_by("pk")
        .values_list("outcome", "payment_hash", "amount_sats", "preimage_verified", "platform_account_id")[:1]
    )


def _apply(delivery_id: int, *, enqueue: bool, skip_locked: bool) -> _Applied | None:
    """Act on a queued delivery under its row lock; None when it does not exist (or, with
    ``skip_locked``, another process holds it and will act on it). With ``enqueue=False`` the caller
    forwards: a payment this call detects has its forward begun in the same transaction
    (``forwarding.forward_begin_locked``), which the caller resumes after the commit.

    Lock order: the delivery row, then (in ``detect``) the split row, then its legs. Nothing locks them
    the other way round: forwarding's own transactions take the split and its legs, never a delivery.
    """
    begun: ForwardBegun | None = None
    try:
        with transaction.atomic():
            rows = values_rows(
                f"webhook_delivery_lock_{skip_locked}",
                functools.partial(_delivery_locked, skip_locked=skip_locked),
                delivery_id,
                using=router.db_for_write(WebhookDelivery),
            )
            if not rows:
                return None
            row = rows[0]
            outcome, payment_hash, amount_sats, preimage_verified, account_id = row
            if outcome != QUEUED:
                return _Applied(outcome, payment_hash, None, fresh=False)
            found = detect(
                payment_hash=payment_hash,
                amount_sats=amount_sats,
                source="webhook",
                preimage_verified=preimage_verified,
                enqueue=enqueue,
                account=AccountScope(account_id),
            )
            if not enqueue and found.split is not None:
                begun = forward_begin_locked(found.split)
            done = WebhookDelivery(pk=delivery_id, outcome=found.outcome[:30], processed_at=timezone.now())
            update_fields(done, ["outcome", "processed_at"])
    except BaseException:
        if begun is not None:
            forward_abandon(begun)
        raise
    return _Applied(found.outcome, payment_hash, found.split_id, fresh=True, begun=begun)


def delivery_process(*, delivery_id: int) -> str:
    """The worker: detection for one delivery, then the forward of its split in the same task.

    Returns ``<detection outcome>`` or ``<detection outcome>:<forward outcome>``. Raises what
    ``forward_split`` raises (``WalletUnavailable``: the task retries; nothing half-done is lost).
    Safe to run twice, concurrently or after the sweep: the row lock lets one of them act; the others
    see the final outcome and, for a paid split, call ``forward_split`` again, which is idempotent (it
    finds the split completed, or busy under another worker's lock, or resumes what a killed worker
    left: the redelivered message of an ``acks_late`` task is exactly that case).
    """
    applied = _apply(delivery_id, enqueue=False, skip_locked=False)
    if applied is None:
        log.error("webhook.delivery_missing", delivery_id=delivery_id)
        return "missing"
    if applied.begun is not None:
        return f"{applied.outcome}:{forward_resume(applied.begun)}"
    split_id = applied.split_id
    if not applied.fresh:
        if applied.outcome not in PAID_OUTCOMES:
            return applied.outcome
        split_id = PaymentSplit.objects.filter(payment_hash=applied.payment_hash).values_list("pk", flat=True).first()
    if split_id is None:
        return applied.outcome
    return f"{applied.outcome}:{forward_split(split_id=split_id)}"


def deliveries_sweep(*, older_than: datetime, batch_size: int = 100) -> dict[str, int]:
    """Act on deliveries still ``queued`` since before ``older_than``: their task was never published
    (broker down, process killed after the commit) or is stuck behind a long backlog.

    Detection runs here (no provider call); forwarding is published after each commit as for any
    other detection. Rows a worker holds are skipped (SKIP LOCKED): that worker acts on them. A row
    detection fails on is given the final outcome ``error`` so it is not retried forever; the split
    stays unpaid in PostgreSQL, where the reconciler's status poll still finds a real payment.
    """
    counts = {"swept": 0, "sweep_errors": 0}
    ids = list(
        WebhookDelivery.objects.filter(outcome=QUEUED, received_at__lte=older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for delivery_id in ids:
        try:
            applied = _apply(delivery_id, enqueue=True, skip_locked=True)
        except OperationalError:
            raise  # PostgreSQL itself is away: nothing can be recorded now; the next pass retries
        except (DatabaseError, ValueError, LookupError) as exc:
            log.error("webhook.sweep_failed", delivery_id=delivery_id, error=type(exc).__name__)
            WebhookDelivery.objects.filter(pk=delivery_id, outcome=QUEUED).update(
                outcome=PROCESSING_ERROR, processed_at=timezone.now()
            )
            counts["sweep_errors"] += 1
            continue
        if applied is not None and applied.fresh:
            counts["swept"] += 1
            log.warning("webhook.delivery_swept", delivery_id=delivery_id, outcome=applied.outcome)
    return counts
