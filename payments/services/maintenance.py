"""Maintenance jobs run by Celery beat and by management commands: expiry, retention cleanup and the
recipient wallet check. Tip statistics live in ``payments.services.tip_stats``.

Every function here is safe to run twice or concurrently with itself: work is claimed with
``SELECT ... FOR UPDATE SKIP LOCKED`` in short transactions, and each row's state is re-checked under
its lock before anything changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments import sale_config
from payments.models import Merchant, PaymentSplit, SplitStatus, Staff
from payments.models.inbound import DELIVERY_QUEUED
from payments.models.parties import PayoutRouteKind
from payments.services.event_partitions import event_partitions_drop_expired
from payments.services.payout_routes import PayoutDestination, PayoutRoute, RouteUnresolvable, payout_route_resolve
from payments.services.staff_access import staff_sign_in_tokens_purge
from payments.services.table_rows import count_rows, delete_in_batches
from payments.services.transitions import transition_split
from payments.services.webhook_delivery import messages_cleanup
from payments.wallet import errors as we

log = get_logger(__name__)

# The seed schema's metrics table. Written by ``analytics``; payments never imports analytics, so
# retention addresses the table by its (seed-fixed) name.
SYSTEM_METRICS_TABLE = "system_metrics"
DELIVERIES_TABLE = "webhook_deliveries"
IDEMPOTENCY_TABLE = "idempotency_keys"
# A delivery still ``queued`` has not been acted on yet (its payment may still be undetected): kept
# whatever its age. Every other outcome is final and only an audit record.
_DELIVERIES_WHERE = "received_at < %s AND outcome <> %s"
_IDEMPOTENCY_WHERE = "created_at < %s"


# --- expiry -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExpiryResult:
    expired: int
    batches: int
    payment_hashes: tuple[str, ...] = ()


def splits_expire(*, now: datetime | None = None, batch_size: int = 200, max_batches: int = 1000) -> ExpiryResult:
    """Expire pending splits whose invoice lifetime is over.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED`` (a split another transaction holds, e.g. one being
    marked paid, is left alone this round) and the status is re-checked under the lock, so a split
    paid meanwhile is never expired. One short transaction per batch; the ``expired`` event is
    written with the state change and the hot key is evicted after commit (by ``transition_split``).
    """
    now = now or timezone.now()
    expired: list[str] = []
    batches = 0
    for _ in range(max_batches):
        with transaction.atomic():
            claimed = list(
                PaymentSplit.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=SplitStatus.PENDING, expires_at__lt=now)
                .order_by("expires_at", "pk")[:batch_size]
            )
            for split in claimed:
                # Under the lock: the WHERE above was evaluated on this row version, but be explicit.
                if split.status != SplitStatus.PENDING or split.expires_at >= now:
                    continue
                transition_split(
                    split,
                    SplitStatus.EXPIRED,
                    event_type="expired",
                    data={"expires_at": split.expires_at.isoformat(), "source": "expire_old_payments"},
                )
                expired.append(split.payment_hash)
        if not claimed:
            break
        batches += 1
        if len(claimed) < batch_size:
            break
    log.info("maintenance.splits_expired", expired=len(expired), batches=batches)
    return ExpiryResult(expired=len(expired), batches=batches, payment_hashes=tuple(expired))


# --- retention cleanup --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CleanupResult:
    metrics_deleted: int
    events_deleted: int
    dry_run: bool
    metrics_cutoff: datetime
    events_cutoff: datetime
    deliveries_deleted: int = 0
    idempotency_deleted: int = 0
    merchant_webhooks_deleted: int = 0
    deliveries_cutoff: datetime | None = None
    idempotency_cutoff: datetime | None = None


def old_data_cleanup(*, now: datetime | None = None, dry_run: bool = False, batch_size: int = 5000) -> CleanupResult:
    """Delete, past their retention: ``system_metrics`` rows (``RETENTION_DAYS_METRICS``), non-financial
    payment events (``RETENTION_DAYS_EVENTS``), webhook deliveries whose outcome is final
    (``RETENTION_DAYS_WEBHOOK_DELIVERIES``; merchants' outgoing webhook messages with a final status
    and their attempts too) and stored ``Idempotency-Key`` answers
    (``RETENTION_DAYS_IDEMPOTENCY_KEYS``). Never touches a split, a leg, a money event (the database
    trigger would refuse a money-event delete anyway), an unmatched payment or a delivery still
    ``queued``. ``dry_run`` only counts."""
    now = now or timezone.now()
    metrics_cutoff = now - timedelta(days=settings.RETENTION_DAYS_METRICS)
    events_cutoff = now - timedelta(days=settings.RETENTION_DAYS_EVENTS)
    deliveries_cutoff = now - timedelta(days=settings.RETENTION_DAYS_WEBHOOK_DELIVERIES)
    idempotency_cutoff = now - timedelta(days=settings.RETENTION_DAYS_IDEMPOTENCY_KEYS)
    jobs: list[tuple[str, str, list[Any]]] = [
        (SYSTEM_METRICS_TABLE, "timestamp < %s", [metrics_cutoff]),
        (DELIVERIES_TABLE, _DELIVERIES_WHERE, [deliveries_cutoff, DELIVERY_QUEUED]),
        (IDEMPOTENCY_TABLE, _IDEMPOTENCY_WHERE, [idempotency_cutoff]),
    ]
    if dry_run:
        metrics, deliveries, keys = (count_rows(table, where, params) for table, where, params in jobs)
    else:
        metrics, deliveries, keys = (
            delete_in_batches(table, where, params, batch_size) for table, where, params in jobs
        )
    # Merchants' outgoing webhooks: final messages and their log, on the deliveries' retention.
    hooks = messages_cleanup(cutoff=deliveries_cutoff, dry_run=dry_run, batch_size=batch_size)
    # Spent or expired staff sign-in links can sign nobody in; a day's grace keeps them for a look.
    links = staff_sign_in_tokens_purge(expired_before=now - timedelta(days=1), dry_run=dry_run)
    # Non-money events go a month at a time (payment_events is partitioned, migration 0014).
    events = event_partitions_drop_expired(cutoff=events_cutoff, dry_run=dry_run, batch_size=batch_size).rows_dropped
    log.info(
        "maintenance.old_data_cleanup",
        dry_run=dry_run,
        metrics_deleted=metrics,
        events_deleted=events,
        deliveries_deleted=deliveries,
        idempotency_deleted=keys,
        merchant_webhooks_deleted=hooks,
        staff_links_deleted=links,
        metrics_cutoff=metrics_cutoff.isoformat(),
        events_cutoff=events_cutoff.isoformat(),
        deliveries_cutoff=deliveries_cutoff.isoformat(),
        idempotency_cutoff=idempotency_cutoff.isoformat(),
    )
    return CleanupResult(
        metrics_deleted=metrics,
        events_deleted=events,
        dry_run=dry_run,
        metrics_cutoff=metrics_cutoff,
        events_cutoff=events_cutoff,
        deliveries_deleted=deliveries,
        idempotency_deleted=keys,
        merchant_webhooks_deleted=hooks,
        deliveries_cutoff=deliveries_cutoff,
        idempotency_cutoff=idempotency_cutoff,
    )


# --- recipient wallet check ---------------------------------------------------------------------


@dataclass(kw_only=True)
class RecipientCheckResult:
    checked: int = 0
    ok: int = 0
    flagged: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, username, error)
    resolved: list[str] = field(default_factory=list)  # imported staff whose wallet is now filled in
    placeholders: int = 0  # imported merchants whose Blink username an operator has yet to set
    unchecked: int = 0
    provider_error: str = ""

    @property
    def complete(self) -> bool:
        return not self.provider_error


def _resolve_outcome(username: str, stored_wallet_id: str, outcome: PayoutRoute | RouteUnresolvable) -> str:
    """'' when fine, else the error to show on the row."""
    if isinstance(outcome, RouteUnresolvable):
        return outcome.reason[:255]
    if outcome.kind is not PayoutRouteKind.CUSTODIAL:
        return ""  # paid through the Lightning address: no custodial wallet to compare
    wallet_id = outcome.wallet_id or ""
    if wallet_id != stored_wallet_id:
        return f"WALLET_CHANGED: @{username} now resolves to wallet {wallet_id}, stored {stored_wallet_id}"[:255]
    return ""


def _route_fields(outcome: PayoutRoute | RouteUnresolvable) -> dict[str, Any]:
    """The route columns a check writes: the route found, or none (the row is flagged)."""
    if isinstance(outcome, RouteUnresolvable):
        return {"payout_route": "", "payout_route_detail": "", "payout_route_checked_at": timezone.now()}
    return {
        "payout_route": outcome.kind.value,
        "payout_route_detail": outcome.detail[:255],
        "payout_route_checked_at": outcome.checked_at,
    }


def recipients_check(
    *, staff_ids: list[int] | None = None, merchant_ids: list[int] | None = None
) -> RecipientCheckResult:
    """Resolve every active staff member's and merchant's payout route (payments/services/payout_routes.py:
    custodial wallet first, else the Lightning address), record it, and flag the rows that no longer
    resolve either way, or whose custodial wallet changed since it was recorded.

    Staff the legacy import created without a wallet get the wallet their username resolves to now:
    that username is who the tips were for, so this is the fix their held tips wait for (an operator
    then retries those payments). Merchants with a placeholder username are skipped and counted.

    No transaction is held while calling the provider. When the provider is unavailable the run stops,
    rows not yet checked keep their flags, and the result says so (``provider_error``).
    """
    staff_qs = Staff.objects.filter(is_active=True, merchant__is_active=True).order_by("pk")
    merchant_qs = Merchant.objects.filter(is_active=True).order_by("pk")
    if staff_ids is not None:
        staff_qs = staff_qs.filter(pk__in=staff_ids)
    if merchant_ids is not None:
        merchant_qs = merchant_qs.filter(pk__in=merchant_ids)
    result = RecipientCheckResult()
    merchants = list(merchant_qs)
    result.placeholders = sum(m.has_placeholder_username for m in merchants)
    rows: list[tuple[str, int, str, str, PayoutDestination]] = [
        *(
            ("merchant", m.pk, m.blink_username, m.wallet_id, PayoutDestination.of(m))
            for m in merchants
            if not m.has_placeholder_username
        ),
        *(
            ("staff", s.pk, s.blink_username or s.lightning_address, s.wallet_id, PayoutDestination.of(s))
            for s in staff_qs
        ),
    ]
    resolved: dict[PayoutDestination, PayoutRoute | RouteUnresolvable] = {}  # one resolution per destination
    for index, (kind, pk, username, wallet_id, destination) in enumerate(rows):
        key = destination
        if key not in resolved:
            try:
                # Never the cached LNURL route: this job is what notices an address that stopped working.
                resolved[key] = payout_route_resolve(destination=destination, use_cache=False)
            except RouteUnresolvable as exc:
                resolved[key] = exc
            except we.WalletError as exc:
                # Unavailable, rate-limited, not authorised, protocol error: a platform problem, not the
                # recipient's. Leave every remaining flag as it is and report.
                result.provider_error = f"{type(exc).__name__}: {exc.code}"
                result.unchecked = len(rows) - index
                log.warning(
                    "maintenance.recipients_check_aborted",
                    error=exc.code,
                    checked=result.checked,
                    unchecked=result.unchecked,
                )
                break
        outcome = resolved[key]
        if kind == "staff" and not wallet_id and isinstance(outcome, PayoutRoute) and outcome.wallet_id:
            # Conditional: an operator (or a concurrent check) that filled it meanwhile wins.
            if Staff.objects.filter(pk=pk, wallet_id="").update(wallet_id=outcome.wallet_id):
                # A create reads the wallet (an unresolved member is refused): processes' copies go now.
                sale_config.bump_on_commit()
                wallet_id = outcome.wallet_id
                result.resolved.append(username)
                log.info("maintenance.staff_wallet_resolved", id=pk, username=username, wallet_id=wallet_id)
            else:
                wallet_id = Staff.objects.filter(pk=pk).values_list("wallet_id", flat=True).first() or ""
        error = _resolve_outcome(username.lower(), wallet_id, outcome)
        model = Merchant if kind == "merchant" else Staff
        model.objects.filter(pk=pk).update(
            wallet_check_ok=not error,
            wallet_check_error=error,
            wallet_checked_at=timezone.now(),
            **_route_fields(outcome),
        )
        result.checked += 1
        if error:
            result.flagged.append((kind, username, error))
            log.warning("maintenance.recipient_flagged", kind=kind, id=pk, username=username, error=error)
        else:
            result.ok += 1
    if result.checked:
        # The check's columns bypass the save signals (payments/sale_config.py); no create decides on
        # them, so one new generation after the run keeps the processes' copies of these rows current.
        sale_config.bump_on_commit()
    log.info(
        "maintenance.recipients_checked",
        checked=result.checked,
        ok=result.ok,
        flagged=len(result.flagged),
        resolved=len(result.resolved),
        placeholders=result.placeholders,
        unchecked=result.unchecked,
    )
    return result
