"""Merchants, staff and split profiles: the parties money is forwarded to.

Blink usernames are resolved to BTC wallet ids through the wallet provider when saved, so a typo is
refused at onboarding instead of stranding a payout later. Provider calls happen before any write and
outside transactions. Validation errors are ``django.core.exceptions.ValidationError`` keyed by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from blinkpos.logging import get_logger
from payments import sale_config, terminal_keys
from payments.crypto import encrypt_secret
from payments.domain.allocation import FULL_WEIGHT_BPS
from payments.models import Merchant, SplitProfile, SplitProfileShare, Staff
from payments.services.payout_routes import (
    PayoutDestination,
    PayoutRoute,
    RouteUnresolvable,
    payout_destination_parse,
    payout_route_record,
    payout_route_resolve,
)
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.wallet import validation
from payments.wallet.errors import (
    InvalidInput,
    NotAuthorized,
    RecipientNotFound,
    WalletError,
    WalletUnavailable,
    WrongCurrency,
)
from payments.wallet.provider import get_wallet_provider
from payments.wallet.types import WalletRef

log = get_logger(__name__)

MAX_TIP_PRESETS = 6
# Scopes a merchant key may have. WRITE can spend; BlinkPOS never spends from a merchant's wallet.
FORBIDDEN_SCOPE = "WRITE"


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _resolve(username: object, *, field: str) -> WalletRef:
    """The BTC wallet behind a Blink username, or a field error. Raises ``ProviderUnavailable``."""
    try:
        name = validation.username(username, field=field)
    except InvalidInput as exc:
        raise _invalid(field, "Must be a Blink username: 3-50 letters, digits or underscores.") from exc
    try:
        return get_wallet_provider().resolve_username(username=name)
    except RecipientNotFound as exc:
        raise _invalid(field, "No Blink account has this username.") from exc
    except WrongCurrency as exc:
        raise _invalid(field, "This Blink account has no BTC wallet.") from exc
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except InvalidInput as exc:
        raise _invalid(field, "Blink refused this username.") from exc
    except WalletError as exc:
        log.error("parties.resolve_failed", username=name, code=exc.code)
        raise ProviderError(
            provider_code=exc.code, message="The wallet provider could not resolve the username."
        ) from exc


def _check_name(value: object, field: str, max_length: int = 120) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "This field is required.")
    if len(value.strip()) > max_length:
        raise _invalid(field, f"At most {max_length} characters.")
    return value.strip()


def _check_currency(value: object) -> str:
    code = value.upper() if isinstance(value, str) else ""
    if code not in settings.SUPPORTED_DISPLAY_CURRENCIES:
        raise _invalid(
            "display_currency", f"Unsupported currency; use one of {', '.join(settings.SUPPORTED_DISPLAY_CURRENCIES)}."
        )
    return code


def _check_tip_presets(value: object) -> list[int]:
    """Whole percents (JSON has no exact decimals; whole percents keep the stored value exact)."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_TIP_PRESETS:
        raise _invalid("tip_presets", f"Give 1 to {MAX_TIP_PRESETS} tip percents.")
    if any(type(v) is not int or not 0 <= v <= 100 for v in value):
        raise _invalid("tip_presets", "Each tip preset must be a whole percent between 0 and 100.")
    if len(set(value)) != len(value):
        raise _invalid("tip_presets", "Tip presets must be different from each other.")
    return list(value)


def merchant_create(
    *,
    user: Any,
    name: str,
    blink_username: str,
    display_currency: str = "USD",
    tip_presets: Sequence[int] | None = None,
) -> Merchant:
    """Onboard a merchant: resolve ``blink_username`` to its BTC wallet (provider call), then save."""
    name = _check_name(name, "name")
    currency = _check_currency(display_currency)
    presets = _check_tip_presets(list(tip_presets)) if tip_presets is not None else [10, 15, 20]
    wallet = _resolve(blink_username, field="blink_username")
    username = wallet.username or blink_username.lower()
    try:
        with transaction.atomic():
            merchant = Merchant.objects.create(
                user=user,
                name=name,
                blink_username=username,
                wallet_id=wallet.wallet_id,
                display_currency=currency,
                tip_presets=presets,
            )
    except IntegrityError as exc:
        raise _invalid(
            "blink_username", "A merchant with this Blink username (or for this user) already exists."
        ) from exc
    log.info("merchant.created", merchant_id=merchant.pk, username=username, wallet_id=wallet.wallet_id)
    return merchant


def merchant_update_settings(
    *,
    merchant: Merchant,
    display_currency: str | None = None,
    tip_presets: Sequence[int] | None = None,
    absorbs_payout_fees: bool | None = None,
) -> Merchant:
    """``absorbs_payout_fees``: the merchant pays the routing fees of staff paid at Lightning
    addresses out of the base, instead of each share paying its own (payments/domain/payout_fees.py).
    Applies to sales forwarded after the change."""
    fields = []
    if absorbs_payout_fees is not None:
        merchant.absorbs_payout_fees = bool(absorbs_payout_fees)
        fields.append("absorbs_payout_fees")
    if display_currency is not None:
        merchant.display_currency = _check_currency(display_currency)
        fields.append("display_currency")
    if tip_presets is not None:
        merchant.tip_presets = _check_tip_presets(list(tip_presets))
        fields.append("tip_presets")
    if fields:
        merchant.save(update_fields=[*fields, "updated_at"])
    return merchant


def merchant_set_active(*, merchant: Merchant, active: bool) -> Merchant:
    """(De)activate a merchant. Its terminal keys stop (or start again) authenticating with the very
    next request in every process: after the commit every cached auth record is stale
    (``terminal_keys.forget_all``)."""
    if merchant.is_active != active:
        with transaction.atomic():
            merchant.is_active = active
            merchant.save(update_fields=["is_active", "updated_at"])
            transaction.on_commit(terminal_keys.forget_all)
        log.info("merchant.activity_changed", merchant_id=merchant.pk, active=active)
    return merchant


def merchant_set_api_key(*, merchant: Merchant, api_key: str) -> Merchant:
    """Store a merchant's Blink API key, encrypted, after checking its scopes at the provider.

    A key with WRITE scope is refused: BlinkPOS never spends from a merchant's wallet, so holding a
    key that can would only add risk. The key must belong to the merchant's account. Never logged.
    """
    try:
        key = validation.api_key(api_key)
    except InvalidInput as exc:
        raise _invalid("api_key", "Must be a Blink API key (printable, no spaces).") from exc
    try:
        info = get_wallet_provider().key_info(api_key=key)
    except NotAuthorized as exc:
        raise _invalid("api_key", "Blink does not accept this API key.") from exc
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except WalletError as exc:
        log.error("merchant.key_check_failed", merchant_id=merchant.pk, code=exc.code)
        raise ProviderError(provider_code=exc.code, message="The wallet provider could not check the key.") from exc
    if FORBIDDEN_SCOPE in info.scopes:
        raise _invalid(
            "api_key",
            "This key has the WRITE scope, which can spend from your wallet. BlinkPOS never needs to spend "
            "from a merchant's wallet: create a key with only READ (and RECEIVE) scope in the Blink dashboard.",
        )
    if merchant.wallet_id not in {w.wallet_id for w in info.wallets}:
        raise _invalid("api_key", "This key belongs to a different Blink account than the merchant's.")
    merchant.blink_api_key_encrypted = encrypt_secret(key)
    merchant.blink_api_key_scopes = ",".join(sorted(info.scopes))
    merchant.save(update_fields=["blink_api_key_encrypted", "blink_api_key_scopes", "updated_at"])
    log.info("merchant.api_key_set", merchant_id=merchant.pk, scopes=merchant.blink_api_key_scopes)
    return merchant


def _resolve_destination(destination: PayoutDestination, *, field: str) -> PayoutRoute:
    """The route a new destination would be paid by, or a field error. Provider outages raise."""
    try:
        return payout_route_resolve(destination=destination, use_cache=False)
    except RouteUnresolvable as exc:
        raise _invalid(field, f"This destination cannot be paid: {exc.reason}"[:300]) from exc
    except WalletUnavailable as exc:
        raise ProviderUnavailable.from_wallet(exc) from exc
    except WalletError as exc:
        log.error("parties.route_failed", code=exc.code)
        raise ProviderError(
            provider_code=exc.code, message="The wallet provider could not check the destination."
        ) from exc


def staff_create(
    *, merchant: Merchant, display_name: str, blink_username: str | None = None, payout_destination: str | None = None
) -> Staff:
    """Add a tip recipient paid to a Blink username (its BTC wallet must resolve) or, with
    ``payout_destination``, to a Blink username or any Lightning address that resolves now."""
    display_name = _check_name(display_name, "display_name")
    if payout_destination is None:
        wallet = _resolve(blink_username, field="blink_username")
        destination = PayoutDestination(blink_username=wallet.username or str(blink_username).lower())
        route: PayoutRoute | None = None
        wallet_id, field = wallet.wallet_id, "blink_username"
    else:
        field = "payout_destination"
        destination = payout_destination_parse(payout_destination, field=field)
        route = _resolve_destination(destination, field=field)
        wallet_id = route.wallet_id or ""
    try:
        with transaction.atomic():
            staff = Staff.objects.create(
                merchant=merchant,
                display_name=display_name,
                blink_username=destination.blink_username,
                lightning_address=destination.lightning_address,
                wallet_id=wallet_id,
            )
    except IntegrityError as exc:
        raise _invalid(field, "This merchant already has a staff member with this destination.") from exc
    if route is not None:
        payout_route_record(party=staff, route=route)
    log.info("staff.created", staff_id=staff.pk, merchant_id=merchant.pk, destination=staff.payout_destination)
    return staff


def staff_set_payout_destination(*, staff: Staff, payout_destination: str) -> Staff:
    """Change where a staff member's future tips go. Checked (syntax, then resolution) before any write."""
    destination = payout_destination_parse(payout_destination, field="payout_destination")
    route = _resolve_destination(destination, field="payout_destination")
    staff.blink_username, staff.lightning_address = destination.blink_username, destination.lightning_address
    if route.wallet_id:
        staff.wallet_id = route.wallet_id
    try:
        with transaction.atomic():
            staff.save(update_fields=["blink_username", "lightning_address", "wallet_id"])
    except IntegrityError as exc:
        staff.refresh_from_db()
        raise _invalid("payout_destination", "This merchant already has a staff member with this destination.") from exc
    payout_route_record(party=staff, route=route)
    staff.refresh_from_db()
    log.info("staff.destination_set", staff_id=staff.pk, destination=staff.payout_destination, route=route.kind.value)
    return staff


def merchant_set_payout_address(*, merchant: Merchant, lightning_address: str) -> Merchant:
    """Pay the merchant's base to a Lightning address instead of its Blink wallet ("" goes back to
    the Blink username). Checked before any write."""
    if isinstance(lightning_address, str) and not lightning_address.strip():
        destination = PayoutDestination(blink_username=merchant.blink_username)
    else:
        destination = payout_destination_parse(lightning_address, field="lightning_address")
        if not destination.lightning_address:
            raise _invalid("lightning_address", "Give a Lightning address (name@domain), or leave it empty.")
    route = _resolve_destination(destination, field="lightning_address")
    merchant.lightning_address = destination.lightning_address
    merchant.save(update_fields=["lightning_address", "updated_at"])
    payout_route_record(party=merchant, route=route)
    merchant.refresh_from_db()
    log.info("merchant.payout_address_set", merchant_id=merchant.pk, route=route.kind.value)
    return merchant


def staff_deactivate(*, staff: Staff) -> Staff:
    """No new tips go to this person; tips already owed are still forwarded."""
    if staff.is_active:
        staff.is_active = False
        staff.save(update_fields=["is_active"])
        log.info("staff.deactivated", staff_id=staff.pk, merchant_id=staff.merchant_id)
    return staff


def split_profile_save(
    *,
    merchant: Merchant,
    name: str,
    shares: Sequence[tuple[Staff, int]],
    profile: SplitProfile | None = None,
) -> SplitProfile:
    """Create or replace a team split: weights in basis points summing to 10 000, active staff of
    this merchant, each person once. The deferred trigger re-checks the sum at commit."""
    name = _check_name(name, "name")
    if profile is not None and profile.merchant_id != merchant.pk:
        raise _invalid("profile", "Unknown split profile.")
    if not shares:
        raise _invalid("shares", "A split profile needs at least one staff member.")
    seen: set[int] = set()
    for staff, weight in shares:
        if staff.merchant_id != merchant.pk or not staff.is_active:
            raise _invalid("shares", "Unknown staff member.")
        if staff.pk in seen:
            raise _invalid("shares", "Each staff member may appear only once.")
        seen.add(staff.pk)
        if type(weight) is not int or not 0 < weight <= FULL_WEIGHT_BPS:
            raise _invalid("shares", "Each weight must be a whole number of basis points between 1 and 10000.")
    if sum(weight for _, weight in shares) != FULL_WEIGHT_BPS:
        raise _invalid("shares", "Weights must sum to 10000 basis points (100 %).")
    try:
        with transaction.atomic():
            if profile is None:
                profile = SplitProfile.objects.create(merchant=merchant, name=name)
            else:
                profile.name = name
                profile.save(update_fields=["name"])
                profile.shares.all().delete()
            SplitProfileShare.objects.bulk_create(
                SplitProfileShare(profile=profile, staff=staff, weight_bps=weight) for staff, weight in shares
            )
            # bulk_create sends no post_save: the processes' copies of this profile go after the commit.
            sale_config.bump_on_commit()
    except IntegrityError as exc:
        raise _invalid("name", "This merchant already has a split profile with this name.") from exc
    log.info("split_profile.saved", profile_id=profile.pk, merchant_id=merchant.pk, members=len(shares))
    return profile
