"""Import the original Node service's ``.tip-store.json`` (an object keyed by payment hash).

Each valid entry becomes a ``PaymentSplit`` with its planned legs (merchant base, tip recipient) and
its ``created`` event, in one short transaction per entry. Entries younger than the invoice lifetime
are imported as ``pending`` (and warmed into the hot store after commit); older ones are inserted as
``expired`` with a ``created`` and an ``expired`` event, so a late payment can still be matched and
forwarded. ``userApiKey`` is encrypted on the way in and never logged, printed or put in a reason.

Idempotent: a payment hash that already exists is skipped, so a second run imports nothing new (and a
concurrent run's insert surfaces as a unique violation, which is also "skipped").
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger, mask_text
from payments import store
from payments.crypto import encrypt_secret
from payments.models import LegStatus, Merchant, PaymentLeg, PaymentSplit, SplitStatus, Staff
from payments.services.transitions import record_event

log = get_logger(__name__)

SOURCE = "legacy_import"
HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")
DISPLAY_QUANTUM = Decimal("0.00000001")
MAX_DISPLAY = Decimal("1e12")  # DecimalField(max_digits=20, decimal_places=8)
# A clock a little ahead on the old server is tolerated; further in the future is bad data.
FUTURE_SKEW = timedelta(minutes=5)


class LegacyImportError(ApplicationError):
    """The file as a whole cannot be imported (unreadable, not JSON, not an object)."""


class EntryInvalid(Exception):
    """One entry cannot be imported; the message is the reason reported (never contains a secret)."""


@dataclass(frozen=True, kw_only=True)
class ParsedEntry:
    payment_hash: str
    merchant: Merchant
    staff: Staff | None
    base_amount: int
    tip_amount: int
    tip_percent: Decimal | None
    tip_recipient: str
    user_wallet_id: str
    user_api_key: str = field(repr=False)
    display_currency: str
    base_amount_display: Decimal | None
    tip_amount_display: Decimal | None
    memo: str
    created_at: datetime


@dataclass(kw_only=True)
class ImportReport:
    total: int = 0
    imported: int = 0
    imported_pending: int = 0
    imported_expired: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (payment hash or key, reason)
    dry_run: bool = False
    backup_path: str = ""


# --- validation ---------------------------------------------------------------------------------


def _int_field(entry: Mapping[str, Any], name: str, *, required: bool = True) -> int:
    if name not in entry or entry[name] is None:
        if required:
            raise EntryInvalid(f"{name}: missing")
        return 0
    value = entry[name]
    # bool is an int in Python; a float like 10.0 is accepted only when it is whole.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EntryInvalid(f"{name}: not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise EntryInvalid(f"{name}: not an integer")
    if value < 0:
        raise EntryInvalid(f"{name}: negative")
    return int(value)


def _decimal_field(entry: Mapping[str, Any], name: str) -> Decimal | None:
    value = entry.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EntryInvalid(f"{name}: not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise EntryInvalid(f"{name}: not a number") from None
    if not number.is_finite() or number < 0 or number >= MAX_DISPLAY:
        raise EntryInvalid(f"{name}: out of range")
    return number.quantize(DISPLAY_QUANTUM)


def _str_field(entry: Mapping[str, Any], name: str, *, max_length: int, default: str = "") -> str:
    value = entry.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise EntryInvalid(f"{name}: not a string")
    if len(value) > max_length:
        raise EntryInvalid(f"{name}: longer than {max_length} characters")
    return value


class _Lookup:
    """Merchants and staff loaded once per run (an import is not a hot path, but 1 000 queries are)."""

    def __init__(self, merchant: Merchant | None) -> None:
        self.forced = merchant
        self.by_wallet: dict[str, list[Merchant]] = {}
        if merchant is None:
            for m in Merchant.objects.filter(is_active=True):
                self.by_wallet.setdefault(m.wallet_id, []).append(m)
        self.staff: dict[int, dict[str, Staff]] = {}

    def merchant_for(self, user_wallet_id: str) -> Merchant:
        if self.forced is not None:
            return self.forced
        if not user_wallet_id:
            raise EntryInvalid("userWalletId: missing (and no --merchant given)")
        found = self.by_wallet.get(user_wallet_id, [])
        if not found:
            raise EntryInvalid("userWalletId: no active merchant has this wallet")
        if len(found) > 1:
            raise EntryInvalid("userWalletId: several merchants share this wallet; use --merchant")
        return found[0]

    def staff_for(self, merchant: Merchant, username: str) -> Staff | None:
        if merchant.pk not in self.staff:
            self.staff[merchant.pk] = {
                s.blink_username.lower(): s for s in Staff.objects.filter(merchant=merchant, is_active=True)
            }
        return self.staff[merchant.pk].get(username.lower())


def parse_entry(key: object, raw: object, *, lookup: _Lookup, now: datetime) -> ParsedEntry:
    """Validate one entry of the legacy file. Raises ``EntryInvalid`` with a reason naming the field."""
    if not isinstance(key, str) or not HASH_RE.match(key):
        raise EntryInvalid("payment hash: not 64 hex characters")
    if not isinstance(raw, dict):
        raise EntryInvalid("entry: not a JSON object")
    base = _int_field(raw, "baseAmount")
    tip = _int_field(raw, "tipAmount")
    if base + tip <= 0:
        raise EntryInvalid("baseAmount + tipAmount: must be positive")
    tip_percent = _decimal_field(raw, "tipPercent")
    if tip_percent is not None and tip_percent > 100:
        raise EntryInvalid("tipPercent: not between 0 and 100")
    timestamp = _int_field(raw, "timestamp")
    try:
        created_at = datetime.fromtimestamp(timestamp / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise EntryInvalid("timestamp: out of range") from None
    if created_at > now + FUTURE_SKEW:
        raise EntryInvalid("timestamp: in the future")
    user_wallet_id = _str_field(raw, "userWalletId", max_length=100)
    user_api_key = _str_field(raw, "userApiKey", max_length=4096)
    merchant = lookup.merchant_for(user_wallet_id)
    recipient = _str_field(raw, "tipRecipient", max_length=50).strip().lstrip("@")
    staff = None
    if tip > 0:
        if not recipient:
            raise EntryInvalid("tipRecipient: missing for a tip")
        staff = lookup.staff_for(merchant, recipient)
        if staff is None:
            raise EntryInvalid(f"tipRecipient: @{recipient} is not active staff of @{merchant.blink_username}")
        if base > 0 and staff.wallet_id == merchant.wallet_id:
            raise EntryInvalid("tipRecipient: same wallet as the merchant")
    currency = _str_field(raw, "displayCurrency", max_length=10, default="BTC").upper() or "BTC"
    return ParsedEntry(
        payment_hash=key.lower(),
        merchant=merchant,
        staff=staff,
        base_amount=base,
        tip_amount=tip,
        tip_percent=tip_percent.quantize(Decimal("0.01")) if tip_percent is not None else None,
        tip_recipient=staff.blink_username if staff else recipient,
        user_wallet_id=user_wallet_id or merchant.wallet_id,
        user_api_key=user_api_key,
        display_currency=currency,
        base_amount_display=_decimal_field(raw, "baseAmountDisplay"),
        tip_amount_display=_decimal_field(raw, "tipAmountDisplay"),
        memo=_str_field(raw, "memo", max_length=1000),
        created_at=created_at,
    )


# --- writing ------------------------------------------------------------------------------------


def _insert(entry: ParsedEntry, *, now: datetime) -> str:
    """Insert the split, its legs and events in one transaction. Returns the status it got."""
    lifetime = timedelta(minutes=settings.INVOICE_EXPIRY_MINUTES)
    expires_at = entry.created_at + lifetime
    status = SplitStatus.PENDING if expires_at > now else SplitStatus.EXPIRED
    with transaction.atomic():
        split = PaymentSplit.objects.create(
            payment_hash=entry.payment_hash,
            external_id=f"legacy-{entry.payment_hash}",
            merchant=entry.merchant,
            user_wallet_id=entry.user_wallet_id,
            user_api_key_encrypted=encrypt_secret(entry.user_api_key) if entry.user_api_key else "",
            username=entry.merchant.blink_username,
            total_amount=entry.base_amount + entry.tip_amount,
            base_amount=entry.base_amount,
            tip_amount=entry.tip_amount,
            tip_percent=entry.tip_percent,
            invoice_satoshis=entry.base_amount + entry.tip_amount,
            display_currency=entry.display_currency,
            base_amount_display=entry.base_amount_display,
            tip_amount_display=entry.tip_amount_display,
            tip_recipient=entry.tip_recipient,
            staff=entry.staff,
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
                    recipient_username=entry.merchant.blink_username,
                    recipient_wallet_id=entry.merchant.wallet_id,
                    amount=entry.base_amount,
                    status=LegStatus.PLANNED,
                )
            )
        if entry.tip_amount > 0 and entry.staff is not None:
            legs.append(
                PaymentLeg(
                    split=split,
                    external_id=uuid.uuid4().hex,
                    kind="tip",
                    staff=entry.staff,
                    recipient_username=entry.staff.blink_username,
                    recipient_wallet_id=entry.staff.wallet_id,
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


def tip_store_import(
    *,
    path: Path,
    dry_run: bool = False,
    merchant_username: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a legacy ``.tip-store.json``. Backs the file up first (not in a dry run, which writes
    nothing at all). Raises ``LegacyImportError`` for a file that cannot be read as a JSON object or an
    unknown ``merchant_username``; per-entry problems are reported in ``ImportReport.failures``."""
    merchant = None
    if merchant_username is not None:
        merchant = Merchant.objects.filter(blink_username__iexact=merchant_username.lstrip("@")).first()
        if merchant is None:
            raise LegacyImportError(f"merchant @{merchant_username}: not found")
    try:
        raw_text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LegacyImportError(f"{path}: cannot read ({type(exc).__name__})") from None
    report = ImportReport(dry_run=dry_run)
    if not dry_run:
        report.backup_path = str(backup_file(path))
    try:
        data = json.loads(raw_text)
    except json.JSONDecodeError as exc:
        raise LegacyImportError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise LegacyImportError(f"{path}: expected a JSON object keyed by payment hash")

    now = timezone.now()
    lookup = _Lookup(merchant)
    report.total = len(data)
    keys = [k.lower() for k in data if isinstance(k, str) and HASH_RE.match(k)]
    existing = set(PaymentSplit.objects.filter(payment_hash__in=keys).values_list("payment_hash", flat=True))
    seen: set[str] = set()
    for index, (key, raw) in enumerate(data.items(), start=1):
        label = mask_text((key if isinstance(key, str) else repr(key))[:80])
        try:
            entry = parse_entry(key, raw, lookup=lookup, now=now)
        except EntryInvalid as exc:
            report.failed += 1
            report.failures.append((label, str(exc)))
        else:
            if entry.payment_hash in existing or entry.payment_hash in seen:
                report.skipped += 1
            elif dry_run:
                report.imported += 1
                lifetime = timedelta(minutes=settings.INVOICE_EXPIRY_MINUTES)
                if entry.created_at + lifetime > now:
                    report.imported_pending += 1
                else:
                    report.imported_expired += 1
            else:
                try:
                    status = _insert(entry, now=now)
                except IntegrityError as exc:
                    if PaymentSplit.objects.filter(payment_hash=entry.payment_hash).exists():
                        # A concurrent import (or a live invoice) inserted this hash meanwhile.
                        report.skipped += 1
                    else:
                        report.failed += 1
                        report.failures.append((label, f"rejected by the database ({_constraint(exc)})"))
                else:
                    report.imported += 1
                    if status == SplitStatus.PENDING:
                        report.imported_pending += 1
                    else:
                        report.imported_expired += 1
            seen.add(entry.payment_hash)
        if progress is not None:
            progress(index, report.total)
    log.info(
        "legacy_import.finished",
        dry_run=dry_run,
        total=report.total,
        imported=report.imported,
        imported_pending=report.imported_pending,
        imported_expired=report.imported_expired,
        skipped=report.skipped,
        failed=report.failed,
    )
    return report
