"""Creating customer invoices (docs/ARCHITECTURE.md, Flows 1); cancelling is ``invoice_cancel``.

Order of work in ``invoice_create``, and why:

1. Validate every input (amounts, tip, recipient, memo, currency) and convert the display amount
   with the cached provider price. A refused request never reaches the provider's invoice API and
   writes nothing.
2. Create the invoice on the platform wallet with a fresh ``externalId``. This is the only external
   call and it runs outside any transaction. If it fails, nothing is written (an invoice created by a
   call that timed out after Blink applied it expires unpaid; nobody was shown its bolt11).
3. One transaction: the split, its planned legs and the ``created`` event.
4. After commit: the hot store key ``tip:{paymentHash}``.

Field names in validation errors are the API's input names (``amount_sats``, ``staff_id``, ...).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments import store
from payments.domain.allocation import Allocation, TipShare, allocate, tip_from_percent
from payments.metrics import timed
from payments.models import (
    Merchant,
    PaymentLeg,
    PaymentSplit,
    SplitProfile,
    SplitProfileShare,
    SplitStatus,
    Staff,
    Terminal,
)
from payments.models.splits import LegKind
from payments.provider_limits import invoice_block_record
from payments.services.pricing import ProviderError, ProviderUnavailable, price_get
from payments.services.sale_accounts import sale_account, sale_provider
from payments.services.transitions import record_event
from payments.wallet.conversion import fiat_to_sats, sats_to_fiat
from payments.wallet.errors import InvalidInput, RateLimited, WalletError, WalletUnavailable
from payments.wallet.types import Price

log = get_logger(__name__)

MAX_MEMO_BYTES = 639  # Blink's limit for an invoice memo, in UTF-8 bytes
# One message for unknown, deactivated and other merchants' staff: the answer must not reveal which.
UNKNOWN_STAFF = "Unknown staff member."
ADDRESS_KEY = "address:"
UNRESOLVED_STAFF = "This staff member's Blink wallet is not resolved yet; ask an operator."
UNKNOWN_PROFILE = "Unknown split profile."
DISPLAY_PLACES = Decimal("0.00000001")  # the display columns keep 8 decimal places


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


@dataclass(frozen=True, kw_only=True)
class _Amounts:
    base: int
    tip: int
    tip_percent: Decimal | None
    currency: str
    price: Price
    base_display: Decimal
    tip_display: Decimal


def _check_sats(value: object, field: str) -> int:
    if type(value) is not int:  # bool is an int subclass; 1.5 is not a number of sats
        raise _invalid(field, "Must be a whole number of sats.")
    if value <= 0:
        raise _invalid(field, "Must be greater than 0.")
    if value > settings.MAX_INVOICE_SATS:
        raise _invalid(field, f"Must be at most {settings.MAX_INVOICE_SATS} sats.")
    return value


def _check_currency(currency: str | None, merchant: Merchant) -> str:
    code = (currency or merchant.display_currency or "").upper()
    if code not in settings.SUPPORTED_DISPLAY_CURRENCIES:
        raise _invalid(
            "currency", f"Unsupported currency; use one of {', '.join(settings.SUPPORTED_DISPLAY_CURRENCIES)}."
        )
    return code


def _check_display_amount(value: Decimal, price: Price) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _invalid("amount_display", "Must be a decimal number.")
    if value <= 0:
        raise _invalid("amount_display", "Must be greater than 0.")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > price.fraction_digits:
        raise _invalid("amount_display", f"At most {price.fraction_digits} decimal places for {price.currency}.")
    return value


def _check_memo(memo: str) -> str:
    if not isinstance(memo, str):
        raise _invalid("memo", "Must be a string.")
    if len(memo.encode("utf-8")) > MAX_MEMO_BYTES:
        raise _invalid("memo", f"At most {MAX_MEMO_BYTES} bytes in UTF-8.")
    return memo


def _check_recipient(
    merchant: Merchant,
    staff: Staff | None,
    split_profile: SplitProfile | None,
    loaded_shares: Sequence[SplitProfileShare] | None,
) -> tuple[list[TipShare], dict[str, Staff]]:
    """The tip shares (by wallet id) and the staff behind each wallet."""
    if loaded_shares is not None and (
        split_profile is None or any(s.profile_id != split_profile.pk for s in loaded_shares)
    ):
        # A caller bug, not bad input: shares of another profile would pay the wrong people.
        raise ValueError("split_profile_shares must be the shares of split_profile")
    if staff is not None and split_profile is not None:
        raise _invalid("split_profile_id", "Give either a staff member or a split profile, not both.")
    if staff is not None:
        if staff.merchant_id != merchant.pk or not staff.is_active:
            raise _invalid("staff_id", UNKNOWN_STAFF)
        if not _payable(staff):  # imported and not resolved yet: a tip would have nowhere to go
            raise _invalid("staff_id", UNRESOLVED_STAFF)
        return [TipShare(recipient=_share_key(staff), weight_bps=10_000)], {_share_key(staff): staff}
    if split_profile is not None:
        if split_profile.merchant_id != merchant.pk or not split_profile.is_active:
            raise _invalid("split_profile_id", UNKNOWN_PROFILE)
        shares = (
            sorted(loaded_shares, key=lambda s: s.pk)
            if loaded_shares is not None
            else list(split_profile.shares.select_related("staff").order_by("pk"))
        )
        if not shares:
            raise _invalid("split_profile_id", "This split profile has no members.")
        if any(not s.staff.is_active or s.staff.merchant_id != merchant.pk for s in shares):
            raise _invalid("split_profile_id", "This split profile includes a deactivated staff member; update it.")
        if any(not _payable(s.staff) for s in shares):
            raise _invalid("split_profile_id", UNRESOLVED_STAFF)
        wallets = {_share_key(s.staff): s.staff for s in shares}
        return [TipShare(recipient=_share_key(s.staff), weight_bps=s.weight_bps) for s in shares], wallets
    return [], {}


def _payable(staff: Staff) -> bool:
    """A Blink wallet resolved, or a Lightning address to pay through (payout_plan resolves it at the
    forward). Neither: nowhere to send a tip (UNRESOLVED_STAFF)."""
    return bool(staff.wallet_id or staff.lightning_address)


def _share_key(staff: Staff) -> str:
    # The allocation merges shares by recipient: a wallet id, or for an address-only member a key of
    # their own (the leg then carries no wallet id).
    return staff.wallet_id or f"{ADDRESS_KEY}{staff.pk}"


def _amounts(
    *,
    merchant: Merchant,
    currency: str,
    amount_sats: int | None,
    amount_display: Decimal | None,
    tip_percent: Decimal | None,
    tip_sats: int | None,
) -> _Amounts:
    if (amount_sats is None) == (amount_display is None):
        raise _invalid(
            "amount_sats", "Give the amount either in sats (amount_sats) or in the display currency (amount_display)."
        )
    if tip_percent is not None and tip_sats is not None:
        raise _invalid("tip_percent", "Give the tip either as a percent or in sats, not both.")
    if tip_percent is not None and (
        not isinstance(tip_percent, Decimal) or not tip_percent.is_finite() or not 0 <= tip_percent <= 100
    ):
        raise _invalid("tip_percent", "Must be a number between 0 and 100.")
    if tip_percent is not None and tip_percent != tip_percent.quantize(Decimal("0.01")):
        raise _invalid("tip_percent", "At most 2 decimal places.")
    if tip_sats is not None and (type(tip_sats) is not int or tip_sats < 0):
        raise _invalid("tip_sats", "Must be a whole number of sats, 0 or more.")
    if amount_sats is not None:
        base = _check_sats(amount_sats, "amount_sats")

    # The only provider call before the invoice: a read, cached, and needed to explain the sale.
    price = price_get(currency=currency)
    if amount_display is not None:
        _check_display_amount(amount_display, price)
        base = fiat_to_sats(amount_display, price=price)
        if base <= 0:
            raise _invalid("amount_display", "Less than one sat.")
        if base > settings.MAX_INVOICE_SATS:
            raise _invalid("amount_display", f"Must be at most {settings.MAX_INVOICE_SATS} sats.")
        base_display = amount_display
    else:
        base_display = sats_to_fiat(base, price=price)

    tip_field = "tip_percent" if tip_percent is not None else "tip_sats"
    tip = tip_from_percent(base_amount=base, percent=tip_percent) if tip_percent is not None else (tip_sats or 0)
    if tip > base * settings.MAX_TIP_MULTIPLE:
        raise _invalid(tip_field, f"The tip may be at most {settings.MAX_TIP_MULTIPLE}x the amount.")
    if base + tip > settings.MAX_INVOICE_SATS:
        raise _invalid(tip_field, f"Amount plus tip must be at most {settings.MAX_INVOICE_SATS} sats.")
    return _Amounts(
        base=base,
        tip=tip,
        tip_percent=tip_percent,
        currency=currency,
        price=price,
        base_display=base_display.quantize(DISPLAY_PLACES),
        tip_display=sats_to_fiat(tip, price=price).quantize(DISPLAY_PLACES),
    )


def _legs(
    *, split: PaymentSplit, merchant: Merchant, allocations: list[Allocation], staff_by_wallet: dict[str, Staff]
) -> list[PaymentLeg]:
    legs = []
    for alloc in allocations:
        person = None if alloc.is_merchant else staff_by_wallet[alloc.recipient]
        legs.append(
            PaymentLeg(
                split=split,
                external_id=uuid.uuid4().hex,
                kind=LegKind.MERCHANT if alloc.is_merchant else LegKind.TIP,
                staff=person,
                recipient_username=(
                    merchant.blink_username if person is None else (person.blink_username or person.lightning_address)
                )[:50],
                recipient_wallet_id="" if alloc.recipient.startswith(ADDRESS_KEY) else alloc.recipient,
                amount=alloc.amount,
                weight_bps=alloc.weight_bps,
            )
        )
    return legs


def invoice_create(
    *,
    merchant: Merchant,
    terminal: Terminal | None,
    amount_sats: int | None = None,
    amount_display: Decimal | None = None,
    tip_percent: Decimal | None = None,
    tip_sats: int | None = None,
    staff: Staff | None = None,
    split_profile: SplitProfile | None = None,
    split_profile_shares: Sequence[SplitProfileShare] | None = None,
    memo: str = "",
    currency: str | None = None,
) -> PaymentSplit:
    """Create a customer invoice for amount + tip on the platform wallet and record its split.

    ``currency`` (default: the merchant's display currency) is the unit of ``amount_display`` and of
    the display amounts stored on the split. ``split_profile_shares``: the profile's shares with their
    staff already loaded (``selectors.split_profile_with_shares_for_merchant``), which saves a query;
    read here when not given. They are checked exactly as if read here.

    Raises ``ValidationError`` (field-keyed; nothing at the provider, nothing written), ``ProviderRateLimited``
    (the merchant's platform account is at Blink's invoice limit: 429, nothing written),
    ``PlatformAccountInactive`` (503, nothing written), ``ProviderUnavailable`` (retry later; nothing written)
    or ``ProviderError``.
    Side effects: one provider invoice; one split with its legs and ``created`` event; ``tip:{hash}``.
    """
    with timed("create_invoice"):
        if not merchant.is_active:
            raise _invalid("merchant", "This merchant is not active.")
        if terminal is not None and (terminal.merchant_id != merchant.pk or not terminal.is_active):
            raise _invalid("terminal", "This terminal is not active for this merchant.")
        memo = _check_memo(memo)
        code = _check_currency(currency, merchant)
        shares, staff_by_wallet = _check_recipient(merchant, staff, split_profile, split_profile_shares)
        amounts = _amounts(
            merchant=merchant,
            currency=code,
            amount_sats=amount_sats,
            amount_display=amount_display,
            tip_percent=tip_percent,
            tip_sats=tip_sats,
        )
        allocations = allocate(
            base_amount=amounts.base, tip_amount=amounts.tip, merchant=merchant.wallet_id, tip_shares=shares
        )
        total = amounts.base + amounts.tip
        external_id = uuid.uuid4().hex
        expiry_minutes = settings.INVOICE_EXPIRY_MINUTES
        account = sale_account(merchant=merchant)  # the merchant's account now; the split keeps it
        try:
            invoice = sale_provider(account).create_invoice(
                amount_sats=total, memo=memo or None, expires_in_minutes=expiry_minutes, external_id=external_id
            )
        except RateLimited as exc:
            log.warning("invoice.provider_rate_limited", merchant_id=merchant.pk, code=exc.code, amount=total)
            raise invoice_block_record(retry_after=exc.retry_after, account_id=account.account_id) from exc
        except WalletUnavailable as exc:
            log.warning("invoice.provider_unavailable", merchant_id=merchant.pk, code=exc.code, amount=total)
            raise ProviderUnavailable.from_wallet(exc) from exc
        except InvalidInput as exc:
            raise _invalid(exc.field or "non_field_errors", "The wallet provider refused this value.") from exc
        except WalletError as exc:
            log.error("invoice.provider_error", merchant_id=merchant.pk, code=exc.code, amount=total)
            raise ProviderError(
                provider_code=exc.code, message="The wallet provider could not create the invoice."
            ) from exc
        if invoice.amount_sats != total:
            log.error(
                "invoice.amount_mismatch", payment_hash=invoice.payment_hash, expected=total, got=invoice.amount_sats
            )
            raise ProviderError(
                provider_code="AMOUNT_MISMATCH", message="The wallet provider invoiced a different amount."
            )

        expires_at = invoice.expires_at or timezone.now() + timedelta(minutes=expiry_minutes)
        if staff is not None:
            tip_recipient = staff.blink_username
        elif split_profile is not None:
            tip_recipient = f"team:{split_profile.name}"[:50]
        else:
            tip_recipient = ""
        with transaction.atomic():
            split = PaymentSplit.objects.create(
                payment_hash=invoice.payment_hash,
                external_id=external_id,
                merchant=merchant,
                terminal=terminal,
                platform_account_id=account.account_id,
                user_wallet_id=merchant.wallet_id,
                username=merchant.blink_username,
                total_amount=total,
                base_amount=amounts.base,
                tip_amount=amounts.tip,
                tip_percent=amounts.tip_percent,
                invoice_satoshis=invoice.amount_sats,
                display_currency=amounts.currency,
                base_amount_display=amounts.base_display,
                tip_amount_display=amounts.tip_display,
                sats_per_unit=amounts.price.sats_per_unit.quantize(DISPLAY_PLACES),
                tip_recipient=tip_recipient,
                staff=staff,
                split_profile=split_profile,
                status=SplitStatus.PENDING,
                expires_at=expires_at,
                memo=memo,
                payment_request=invoice.payment_request,
                receipt_token=secrets.token_urlsafe(32),
                metadata=_metadata(amounts, amount_display is not None, expiry_minutes),
            )
            legs = PaymentLeg.objects.bulk_create(
                _legs(split=split, merchant=merchant, allocations=allocations, staff_by_wallet=staff_by_wallet)
            )
            record_event(
                split,
                "created",
                {
                    "total_amount": total,
                    "base_amount": amounts.base,
                    "tip_amount": amounts.tip,
                    "legs": [
                        {"kind": leg.kind, "recipient": leg.recipient_username, "amount": leg.amount} for leg in legs
                    ],
                    "terminal_id": terminal.pk if terminal else None,
                },
                to_status=SplitStatus.PENDING,
            )
            # A new split: nothing can have transitioned it before its hash is in the response.
            transaction.on_commit(lambda: store.put(split, confirm=False))
        log.info(
            "invoice.created",
            payment_hash=split.payment_hash,
            merchant_id=merchant.pk,
            total=total,
            base=amounts.base,
            tip=amounts.tip,
            legs=len(legs),
        )
        return split


def _metadata(amounts: _Amounts, from_display: bool, expiry_minutes: int) -> dict[str, Any]:
    return {
        "amount_input": "display" if from_display else "sats",
        "price": {"base": amounts.price.base, "offset": amounts.price.offset, "digits": amounts.price.fraction_digits},
        "expires_in_minutes": expiry_minutes,
    }
