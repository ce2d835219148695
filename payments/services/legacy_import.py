"""Import the original Node service's ``.tip-store.json`` (an object keyed by payment hash).

Three steps: every entry's fields are checked (``legacy_import_entries``); the merchant and staff of
the entries to import are matched or planned, with the provider reads that needs, outside any
transaction (``legacy_import_parties``); then the missing parties are created and each valid entry
becomes a ``PaymentSplit`` with its planned legs (merchant base, tip recipient) and its ``created``
event, in one short transaction per entry. Entries younger than the invoice lifetime are imported as
``pending`` (and warmed into the hot store after commit); older ones are inserted as ``expired`` with a
``created`` and an ``expired`` event, so a late payment can still be matched and forwarded.
``userApiKey`` is encrypted on the way in and never logged, printed or put in a reason.

Idempotent: a payment hash that already exists is skipped before any party is looked at, so a second
run imports nothing and creates nobody (a concurrent run's insert surfaces as a unique violation,
which is also "skipped"). A dry run writes nothing; it does make the provider reads, so its counts of
placeholder merchants and unresolved staff are what a real run would create (``use_provider=False``
skips them).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger, mask_text
from payments import store
from payments.crypto import encrypt_secret
from payments.models import LegStatus, Merchant, PaymentLeg, PaymentSplit, SplitStatus, Staff
from payments.services.legacy_import_entries import HASH_RE, EntryInvalid, LegacyEntry, parse_entry
from payments.services.legacy_import_lookups import ProviderLookups
from payments.services.legacy_import_parties import LegacyParties, PartyCounts
from payments.services.transitions import record_event

log = get_logger(__name__)

SOURCE = "legacy_import"


class LegacyImportError(ApplicationError):
    """The file as a whole cannot be imported (unreadable, not JSON, not an object)."""


@dataclass(kw_only=True)
class ImportReport:
    total: int = 0
    imported: int = 0
    imported_pending: int = 0
    imported_expired: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (payment hash or key, reason)
    parties: PartyCounts = field(default_factory=PartyCounts)  # created (or, in a dry run, to create)
    provider_calls: int = 0
    provider_note: str = ""  # why some parties could not be looked up, when they could not
    dry_run: bool = False
    backup_path: str = ""


# --- writing ------------------------------------------------------------------------------------


def _insert(entry: LegacyEntry, *, merchant: Merchant, staff: Staff | None, now: datetime) -> str:
    """Insert the split, its legs and events in one transaction. Returns the status it got.

    A tip leg for a staff member without a resolved wallet keeps an empty ``recipient_wallet_id``:
    forwarding never pays it until an operator has resolved that member's wallet."""
    expires_at = entry.created_at + timedelta(minutes=settings.INVOICE_EXPIRY_MINUTES)
    status = _status_for(entry, now)
    with transaction.atomic():
        split = PaymentSplit.objects.create(
            payment_hash=entry.payment_hash,
            external_id=f"legacy-{entry.payment_hash}",
            merchant=merchant,
            user_wallet_id=entry.user_wallet_id or merchant.wallet_id,
            user_api_key_encrypted=encrypt_secret(entry.user_api_key) if entry.user_api_key else "",
            username=merchant.blink_username,
            total_amount=entry.base_amount + entry.tip_amount,
            base_amount=entry.base_amount,
            tip_amount=entry.tip_amount,
            tip_percent=entry.tip_percent,
            invoice_satoshis=entry.base_amount + entry.tip_amount,
            display_currency=entry.display_currency,
            base_amount_display=entry.base_amount_display,
            tip_amount_display=entry.tip_amount_display,
            tip_recipient=staff.blink_username if staff else entry.tip_recipient,
            staff=staff,
            status=status,
            expires_at=expires_at,
            memo=entry.memo,
            metadata={"source": SOURCE, "legacy_timestamp_ms": int(entry.created_at.timestamp() * 1000)},
        )
        # created_at is auto_now_add; the sale happened when the old store says it did.
        PaymentSplit.objects.filter(pk=split.pk).update(created_at=entry.created_at)
        split.created_at = entry.created_at
        legs = []
        if entry.base_amount > 0:
            legs.append(
                PaymentLeg(
                    split=split,
                    external_id=uuid.uuid4().hex,
                    kind="merchant",
                    recipient_username=merchant.blink_username,
                    recipient_wallet_id=merchant.wallet_id,
                    amount=entry.base_amount,
                    status=LegStatus.PLANNED,
                )
            )
        if entry.tip_amount > 0 and staff is not None:
            legs.append(
                PaymentLeg(
                    split=split,
                    external_id=uuid.uuid4().hex,
                    kind="tip",
                    staff=staff,
                    recipient_username=staff.blink_username,
                    recipient_wallet_id=staff.wallet_id,
                    amount=entry.tip_amount,
                    weight_bps=10_000,
                    status=LegStatus.PLANNED,
                )
            )
        PaymentLeg.objects.bulk_create(legs)
        event = {
            "source": SOURCE,
            "total_amount": split.total_amount,
            "base_amount": split.base_amount,
            "tip_amount": split.tip_amount,
            "tip_recipient": split.tip_recipient,
            "legacy_created_at": entry.created_at.isoformat(),
        }
        record_event(split, "created", event, to_status=SplitStatus.PENDING)
        if status == SplitStatus.EXPIRED:
            record_event(
                split,
                "expired",
                {"source": SOURCE, "expires_at": expires_at.isoformat()},
                from_status=SplitStatus.PENDING,
                to_status=SplitStatus.EXPIRED,
            )
        else:
            transaction.on_commit(lambda: store.put(split))
    return status


def _constraint(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return str(getattr(diag, "constraint_name", None) or "integrity error")


def backup_file(path: Path, *, now: datetime | None = None) -> Path:
    """Copy ``path`` to ``path.bak-<UTC timestamp>`` (permissions kept: the file holds API keys)."""
    stamp = (now or timezone.now()).astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    shutil.copy2(path, target)
    return target


def _status_for(entry: LegacyEntry, now: datetime) -> str:
    lifetime = timedelta(minutes=settings.INVOICE_EXPIRY_MINUTES)
    return SplitStatus.PENDING if entry.created_at + lifetime > now else SplitStatus.EXPIRED


def _load(path: Path, *, dry_run: bool, report: ImportReport) -> dict[object, object]:
    try:
        raw_text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LegacyImportError(f"{path}: cannot read ({type(exc).__name__})") from None
    if not dry_run:
        report.backup_path = str(backup_file(path))
    try:
        data = json.loads(raw_text)
    except json.JSONDecodeError as exc:
        raise LegacyImportError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise LegacyImportError(f"{path}: expected a JSON object keyed by payment hash")
    return data


def tip_store_import(
    *,
    path: Path,
    dry_run: bool = False,
    merchant_username: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    use_provider: bool = True,
) -> ImportReport:
    """Import a legacy ``.tip-store.json``. Backs the file up first (not in a dry run, which writes
    nothing at all). Creates the merchants and staff the entries need (see ``legacy_import_parties``),
    asking the provider only reads, outside transactions. Raises ``LegacyImportError`` for a file that
    cannot be read as a JSON object or an unknown ``merchant_username``; per-entry problems are
    reported in ``ImportReport.failures``."""
    forced = None
    if merchant_username is not None:
        forced = Merchant.objects.filter(blink_username__iexact=merchant_username.lstrip("@")).first()
        if forced is None:
            raise LegacyImportError(f"merchant @{merchant_username}: not found")
    report = ImportReport(dry_run=dry_run)
    data = _load(path, dry_run=dry_run, report=report)
    now = timezone.now()
    report.total = len(data)
    done = 0
    failures: list[tuple[int, str, str]] = []

    def finish(index: int, label: str = "", reason: str = "") -> None:
        nonlocal done
        if reason:
            report.failed += 1
            failures.append((index, label, reason))
        done += 1
        if progress is not None:
            progress(done, report.total)

    keys = [k.lower() for k in data if isinstance(k, str) and HASH_RE.match(k)]
    existing = set(PaymentSplit.objects.filter(payment_hash__in=keys).values_list("payment_hash", flat=True))
    todo: list[tuple[int, str, LegacyEntry]] = []
    for index, (key, raw) in enumerate(data.items()):
        label = mask_text((key if isinstance(key, str) else repr(key))[:80])
        try:
            entry = parse_entry(key, raw, now=now, merchant_given=forced is not None)
        except EntryInvalid as exc:
            finish(index, label, str(exc))
            continue
        if entry.payment_hash in existing:
            report.skipped += 1
            finish(index)
            continue
        existing.add(entry.payment_hash)  # a hash twice in the file: the first one wins
        todo.append((index, label, entry))

    lookups = ProviderLookups(enabled=use_provider)
    parties = LegacyParties(lookups=lookups, forced=forced)
    parties.plan(entry for _, _, entry in todo)
    report.parties = parties.planned() if dry_run else parties.create()
    report.provider_calls, report.provider_note = lookups.calls, lookups.down_reason

    for index, label, entry in todo:
        try:
            merchant = parties.merchant_for(entry)
            staff = parties.staff_for(merchant, entry)
        except EntryInvalid as exc:
            finish(index, label, str(exc))
            continue
        reason = ""
        if dry_run:
            status = _status_for(entry, now)
        else:
            try:
                status = _insert(entry, merchant=merchant, staff=staff, now=now)
            except IntegrityError as exc:
                status = ""
                if PaymentSplit.objects.filter(payment_hash=entry.payment_hash).exists():
                    report.skipped += 1  # a concurrent import (or a live invoice) inserted it meanwhile
                else:
                    reason = f"rejected by the database ({_constraint(exc)})"
        if status:
            report.imported += 1
            if status == SplitStatus.PENDING:
                report.imported_pending += 1
            else:
                report.imported_expired += 1
        finish(index, label, reason)
    report.failures = [(label, reason) for _, label, reason in sorted(failures)]
    log.info(
        "legacy_import.finished",
        dry_run=dry_run,
        total=report.total,
        imported=report.imported,
        imported_pending=report.imported_pending,
        imported_expired=report.imported_expired,
        skipped=report.skipped,
        failed=report.failed,
        merchants_created=report.parties.merchants_created,
        merchants_placeholder=report.parties.merchants_placeholder,
        staff_created=report.parties.staff_created,
        staff_unresolved=report.parties.staff_unresolved,
        provider_calls=report.provider_calls,
        provider_note=report.provider_note,
    )
    return report
