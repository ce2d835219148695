"""Who the legacy entries belong to: the merchant behind each ``userWalletId`` and the staff member
behind each ``tipRecipient``, matched in the database first and created when missing.

The original service had no merchant records: a merchant was a Blink wallet plus the API key its
owner logged in with. So, per distinct ``userWalletId`` (unless ``--merchant`` names one merchant):

1. an existing merchant whose ``wallet_id`` is that wallet;
2. else the legacy key is asked who it belongs to (a read); an account that owns the wallet gives the
   Blink username and its BTC wallet, and an existing merchant with that wallet or username is used;
3. else a merchant is created: with that username, or with a placeholder username
   (``legacy-<digest of the wallet>``) when the provider refused the key or could not be asked. Either
   way ``needs_setup`` is set with a note, because nobody can log in as it yet. Its ``wallet_id`` is the
   account's BTC wallet, else the legacy wallet: where the old service paid the base amount.
   The key is stored encrypted on it unless the provider said it belongs to someone else or is void.

Per distinct (merchant, ``tipRecipient``): the merchant's staff member with that username (active or
not: tips already owed are still forwarded to a deactivated member), else a new one whose wallet is
resolved at the provider. When that fails the member is created without a wallet (``wallet_id`` empty,
``wallet_check_ok`` false, the reason in ``wallet_check_error``): no payout is attempted for them until
an operator resolves the wallet (``check_recipients`` or the staff admin action).

``plan`` makes every provider call (outside any transaction); ``create`` only writes, one short
transaction per party; a concurrent import's insert of the same username is picked up, not duplicated.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.crypto import encrypt_secret
from payments.models import Merchant, Staff
from payments.models.parties import PLACEHOLDER_USERNAME_PREFIX
from payments.services.legacy_import_entries import EntryInvalid, LegacyEntry
from payments.services.legacy_import_lookups import Answer, KeyOwner, ProviderLookups

log = get_logger(__name__)

# Newest keys first; a wallet whose three newest keys are all refused gets a placeholder.
MAX_KEYS_PER_WALLET = 3
SETUP_NOTE = "Imported from the legacy tip store: attach a login user"
WRITE_SCOPE = "WRITE"


def placeholder_username(wallet_id: str) -> str:
    return PLACEHOLDER_USERNAME_PREFIX + hashlib.sha256(wallet_id.encode()).hexdigest()[:16]


@dataclass(kw_only=True)
class _MerchantSlot:
    merchant: Merchant | None = None
    reason: str = ""  # every entry of this wallet fails with it
    new: bool = False


@dataclass(kw_only=True)
class PartyCounts:
    merchants_created: int = 0
    merchants_placeholder: int = 0
    staff_created: int = 0
    staff_unresolved: int = 0


@dataclass(kw_only=True)
class LegacyParties:
    """Matches and plans the parties of one import run; see the module docstring."""

    lookups: ProviderLookups
    forced: Merchant | None = None
    counts: PartyCounts = field(default_factory=PartyCounts)
    _by_pk: dict[int, Merchant] = field(default_factory=dict)
    _slots: dict[str, _MerchantSlot] = field(default_factory=dict)
    _staff: dict[tuple[int, str], Staff] = field(default_factory=dict)
    _new_staff: list[Staff] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.forced is not None:
            self._by_pk[self.forced.pk] = self.forced
        else:
            self._by_pk.update((m.pk, m) for m in Merchant.objects.all())

    # --- planning (reads and provider calls, no writes) ---------------------------------------------

    def plan(self, entries: Iterable[LegacyEntry]) -> None:
        entries = list(entries)
        if self.forced is None:
            by_wallet: dict[str, list[LegacyEntry]] = {}
            for entry in entries:
                by_wallet.setdefault(entry.user_wallet_id, []).append(entry)
            for wallet, group in by_wallet.items():
                self._slots[wallet] = self._plan_merchant(wallet, group)
        for s in Staff.objects.filter(merchant_id__in=list(self._by_pk)):
            self._staff[(id(self._by_pk[s.merchant_id]), s.blink_username.lower())] = s
        for entry in entries:
            if entry.tip_amount > 0:
                try:
                    merchant = self.merchant_for(entry)
                except EntryInvalid:
                    continue
                self._plan_staff(merchant, entry.tip_recipient)

    def _existing(self, *, wallet_ids: Iterable[str] = (), username: str = "") -> tuple[list[Merchant], str]:
        wanted = {w for w in wallet_ids if w}
        found = [m for m in self._by_pk.values() if m.wallet_id in wanted]
        if not found and username:
            found = [m for m in self._by_pk.values() if m.blink_username.lower() == username]
        if len(found) > 1:
            return found, "userWalletId: several merchants share this wallet; use --merchant"
        if found and not found[0].is_active:
            return found, f"userWalletId: merchant @{found[0].blink_username} is deactivated; use --merchant"
        return found, ""

    def _plan_merchant(self, wallet: str, group: list[LegacyEntry]) -> _MerchantSlot:
        found, reason = self._existing(wallet_ids=[wallet])
        if found or reason:
            return _MerchantSlot(merchant=found[0] if not reason else None, reason=reason)
        keys = [e.user_api_key for e in sorted(group, key=lambda e: e.created_at, reverse=True) if e.user_api_key]
        owner, key, why = self._key_owner(wallet, list(dict.fromkeys(keys))[:MAX_KEYS_PER_WALLET])
        if owner is not None:
            found, reason = self._existing(wallet_ids=[owner.btc_wallet_id], username=owner.username)
            if found or reason:
                return _MerchantSlot(merchant=found[0] if not reason else None, reason=reason)
        supported = settings.SUPPORTED_DISPLAY_CURRENCIES
        currencies = Counter(e.display_currency for e in group if e.display_currency in supported)
        username = owner.username if owner and owner.username else placeholder_username(wallet)
        note = SETUP_NOTE if owner and owner.username else f"{SETUP_NOTE}; set the Blink username ({why})"
        if owner is not None and WRITE_SCOPE in owner.scopes:
            note += "; the stored key can spend (WRITE scope): replace it with a READ/RECEIVE key"
        merchant = Merchant(
            name=f"@{username}" if owner and owner.username else f"Legacy merchant {wallet[:12]}",
            blink_username=username,
            wallet_id=(owner.btc_wallet_id if owner else "") or wallet,
            display_currency=currencies.most_common(1)[0][0] if currencies else "USD",
            blink_api_key_encrypted=encrypt_secret(key) if key else "",
            blink_api_key_scopes=",".join(sorted(owner.scopes)) if owner else "",
            needs_setup=True,
            setup_note=note[:255],
        )
        return _MerchantSlot(merchant=merchant, new=True)

    def _key_owner(self, wallet: str, keys: list[str]) -> tuple[KeyOwner | None, str, str]:
        """(the owner when a key belongs to ``wallet``'s account, the key to keep, why no username)."""
        if not keys:
            return None, "", "no API key in the legacy file"
        why = ""
        for key in keys:
            owner = self.lookups.key_owner(key)
            if owner.answer is Answer.OK and wallet in owner.wallet_ids:
                return owner, key, ""
            if owner.answer is Answer.UNAVAILABLE:
                # Nobody could say whose key it is: keep it, an operator can check it later.
                return None, key, owner.reason
            why = owner.reason or "the legacy API key belongs to another Blink account"
        return None, "", why

    def _plan_staff(self, merchant: Merchant, username: str) -> None:
        slot = (id(merchant), username)
        if slot in self._staff:
            return
        found = self.lookups.username_wallet(username)
        staff = Staff(merchant=merchant, display_name=username, blink_username=username)
        if found.answer is Answer.OK:
            staff.wallet_id, staff.wallet_checked_at = found.wallet_id, timezone.now()
        else:
            staff.wallet_check_ok = False
            staff.wallet_check_error = f"UNRESOLVED: {found.reason}"[:255]
        self._staff[slot] = staff
        self._new_staff.append(staff)

    # --- answers per entry ------------------------------------------------------------------------

    def merchant_for(self, entry: LegacyEntry) -> Merchant:
        if self.forced is not None:
            return self.forced
        slot = self._slots[entry.user_wallet_id]
        if slot.reason or slot.merchant is None:
            raise EntryInvalid(slot.reason or "userWalletId: no merchant")
        return slot.merchant

    def staff_for(self, merchant: Merchant, entry: LegacyEntry) -> Staff | None:
        if entry.tip_amount == 0:
            return None
        staff = self._staff[(id(merchant), entry.tip_recipient)]
        if entry.base_amount > 0 and staff.wallet_id and staff.wallet_id == merchant.wallet_id:
            raise EntryInvalid("tipRecipient: same wallet as the merchant")
        return staff

    def planned(self) -> PartyCounts:
        merchants = [s.merchant for s in self._slots.values() if s.new and s.merchant is not None]
        return PartyCounts(
            merchants_created=len(merchants),
            merchants_placeholder=sum(m.has_placeholder_username for m in merchants),
            staff_created=len(self._new_staff),
            staff_unresolved=sum(not s.wallet_id for s in self._new_staff),
        )

    # --- writing ----------------------------------------------------------------------------------

    def create(self) -> PartyCounts:
        """Insert the planned parties (no provider call). A party inserted meanwhile by a concurrent
        import (same unique username) is used instead of a second one."""
        for slot in self._slots.values():
            if slot.new and slot.merchant is not None and slot.merchant.pk is None:
                self._create_merchant(slot)
        for staff in self._new_staff:
            if staff.pk is None and staff.merchant.pk is not None:
                self._create_staff(staff)
        return self.counts

    def _create_merchant(self, slot: _MerchantSlot) -> None:
        merchant = slot.merchant
        assert merchant is not None
        try:
            with transaction.atomic():
                merchant.save()
        except IntegrityError:
            other = Merchant.objects.filter(blink_username=merchant.blink_username).first()
            if other is None or other.wallet_id != merchant.wallet_id:
                slot.reason = f"userWalletId: Blink username @{merchant.blink_username} belongs to another merchant"
                return
            merchant.pk = other.pk  # the same account, inserted by a concurrent import; its staff follow
            return
        self.counts.merchants_created += 1
        self.counts.merchants_placeholder += merchant.has_placeholder_username
        log.info(
            "legacy_import.merchant_created",
            merchant_id=merchant.pk,
            username=merchant.blink_username,
            placeholder=merchant.has_placeholder_username,
            key_stored=merchant.has_blink_api_key,
        )

    def _create_staff(self, staff: Staff) -> None:
        try:
            with transaction.atomic():
                staff.save()
        except IntegrityError:
            other = Staff.objects.get(merchant_id=staff.merchant.pk, blink_username=staff.blink_username)
            staff.pk, staff.wallet_id = other.pk, other.wallet_id
            return
        self.counts.staff_created += 1
        self.counts.staff_unresolved += not staff.wallet_id
        log.info(
            "legacy_import.staff_created",
            staff_id=staff.pk,
            merchant_id=staff.merchant.pk,
            username=staff.blink_username,
            resolved=bool(staff.wallet_id),
        )
