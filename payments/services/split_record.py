"""The parts every customer invoice shares, whatever it pays for (a sale, a pay code, a tip alone):
who the tip goes to, the provider call, and the one transaction that records the split
(docs/ARCHITECTURE.md, Flows 1). ``invoices`` (sales) and ``tip_invoices`` (pay codes and tips added
after a sale) validate their own inputs, then call these in order: ``recipient_shares`` →
``platform_invoice_create`` (outside any transaction) → ``split_record``.

Field names in validation errors are the API's input names (``staff_id``, ``split_profile_id``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments import store
from payments.domain.allocation import Allocation, TipShare
from payments.models import Merchant, PaymentLeg, PaymentSplit, SplitProfile, SplitProfileShare, SplitStatus, Staff
from payments.models.splits import LegKind
from payments.provider_limits import invoice_block_record
from payments.services.pricing import ProviderError, ProviderUnavailable
from payments.services.row_sql import insert_rows
from payments.services.sale_accounts import sale_account, sale_provider
from payments.services.transitions import record_event
from payments.wallet.errors import InvalidInput, RateLimited, WalletError, WalletUnavailable
from payments.wallet.types import CreatedInvoice

log = get_logger(__name__)

# One message for unknown, deactivated and other merchants' staff: the answer must not reveal which.
UNKNOWN_STAFF = "Unknown staff member."
ADDRESS_KEY = "address:"
UNRESOLVED_STAFF = "This staff member's Blink wallet is not resolved yet; ask an operator."
UNKNOWN_PROFILE = "Unknown split profile."
DISPLAY_PLACES = Decimal("0.00000001")  # the display columns keep 8 decimal places


def invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def recipient_shares(
    merchant: Merchant,
    staff: Staff | None,
    split_profile: SplitProfile | None,
    loaded_shares: Sequence[SplitProfileShare] | None = None,
) -> tuple[list[TipShare], dict[str, Staff]]:
    """The tip shares (by wallet id) and the staff behind each wallet; none for neither."""
    if loaded_shares is not None and (
        split_profile is None or any(s.profile_id != split_profile.pk for s in loaded_shares)
    ):
        # A caller bug, not bad input: shares of another profile would pay the wrong people.
        raise ValueError("split_profile_shares must be the shares of split_profile")
    if staff is not None and split_profile is not None:
        raise invalid("split_profile_id", "Give either a staff member or a split profile, not both.")
    if staff is not None:
        if staff.merchant_id != merchant.pk or not staff.is_active:
            raise invalid("staff_id", UNKNOWN_STAFF)
        if not _payable(staff):  # imported and not resolved yet: a tip would have nowhere to go
            raise invalid("staff_id", UNRESOLVED_STAFF)
        return [TipShare(recipient=_share_key(staff), weight_bps=10_000)], {_share_key(staff): staff}
    if split_profile is not None:
        if split_profile.merchant_id != merchant.pk or not split_profile.is_active:
            raise invalid("split_profile_id", UNKNOWN_PROFILE)
        shares = (
            sorted(loaded_shares, key=lambda s: s.pk)
            if loaded_shares is not None
            else list(split_profile.shares.select_related("staff").order_by("pk"))
        )
        if not shares:
            raise invalid("split_profile_id", "This split profile has no members.")
        if any(not s.staff.is_active or s.staff.merchant_id != merchant.pk for s in shares):
            raise invalid("split_profile_id", "This split profile includes a deactivated staff member; update it.")
        if any(not _payable(s.staff) for s in shares):
            raise invalid("split_profile_id", UNRESOLVED_STAFF)
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


def tip_recipient_label(staff: Staff | None, split_profile: SplitProfile | None) -> str:
    if staff is not None:
        return staff.blink_username
    if split_profile is not None:
        return f"team:{split_profile.name}"[:50]
    return ""


@dataclass(frozen=True)
class PlatformInvoice:
    """An invoice just created and the platform account that created it (None: the default account)."""

    created: CreatedInvoice
    account_id: int | None


def platform_invoice_create(
    *,
    merchant: Merchant,
    total: int,
    memo: str | None,
    external_id: str,
    expiry_minutes: int,
    description_hash: str | None = None,
) -> PlatformInvoice:
    """The one provider call: an invoice for ``total`` sats on the merchant's platform account (its
    account now; the split keeps it, docs/ARCHITECTURE.md, Platform accounts). Refused at once while that
    account is inactive, past its invoice rate or blocked by Blink's limit. Raises
    ``ProviderRateLimited`` (429), ``PlatformAccountInactive``, ``ProviderUnavailable``,
    ``ProviderError`` or a field-keyed ``ValidationError``; writes nothing."""
    account = sale_account(merchant=merchant)
    try:
        invoice = sale_provider(account).create_invoice(
            amount_sats=total,
            memo=memo,
            expires_in_minutes=expiry_minutes,
            external_id=external_id,
            description_hash=description_hash,
        )
    except RateLimited as exc:
        log.warning("invoice.provider_rate_limited", merchant_id=merchant.pk, code=exc.code, amount=total)
        raise invoice_block_record(retry_after=exc.retry_after, account_id=account.account_id) from exc
    except WalletUnavailable as exc:
        log.warning("invoice.provider_unavailable", merchant_id=merchant.pk, code=exc.code, amount=total)
        raise ProviderUnavailable.from_wallet(exc) from exc
    except InvalidInput as exc:
        raise invalid(exc.field or "non_field_errors", "The wallet provider refused this value.") from exc
    except WalletError as exc:
        log.error("invoice.provider_error", merchant_id=merchant.pk, code=exc.code, amount=total)
        raise ProviderError(
            provider_code=exc.code, message="The wallet provider could not create the invoice."
        ) from exc
    if invoice.amount_sats != total:
        log.error("invoice.amount_mismatch", payment_hash=invoice.payment_hash, expected=total, got=invoice.amount_sats)
        raise ProviderError(provider_code="AMOUNT_MISMATCH", message="The wallet provider invoiced a different amount.")
    return PlatformInvoice(created=invoice, account_id=account.account_id)


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


def split_record(
    *,
    merchant: Merchant,
    invoice: PlatformInvoice,
    external_id: str,
    expiry_minutes: int,
    allocations: list[Allocation],
    staff_by_wallet: dict[str, Staff],
    fields: dict[str, Any],
) -> PaymentSplit:
    """One transaction: the split (``fields`` holds its amounts and what it is for), its planned legs
    and the ``created`` event; after commit, ``tip:{hash}``."""
    created = invoice.created
    expires_at = created.expires_at or timezone.now() + timedelta(minutes=expiry_minutes)
    with transaction.atomic():
        # One INSERT each for the split and its legs, compiled once per process (payments/prepared.py):
        # the same rows ``create``/``bulk_create`` write, without compiling ~45 columns per sale.
        split = PaymentSplit(
            payment_hash=created.payment_hash,
            external_id=external_id,
            merchant=merchant,
            platform_account_id=invoice.account_id,
            user_wallet_id=merchant.wallet_id,
            username=merchant.blink_username,
            invoice_satoshis=created.amount_sats,
            status=SplitStatus.PENDING,
            expires_at=expires_at,
            payment_request=created.payment_request,
            receipt_token=secrets.token_urlsafe(32),
            **fields,
        )
        insert_rows([split])
        legs = insert_rows(
            _legs(split=split, merchant=merchant, allocations=allocations, staff_by_wallet=staff_by_wallet)
        )
        record_event(
            split,
            "created",
            {
                "total_amount": split.total_amount,
                "base_amount": split.base_amount,
                "tip_amount": split.tip_amount,
                "pooled_amount": split.pooled_amount,
                "kind": split.kind,
                "legs": [{"kind": leg.kind, "recipient": leg.recipient_username, "amount": leg.amount} for leg in legs],
                "terminal_id": split.terminal_id,
            },
            to_status=SplitStatus.PENDING,
        )
        # A new split: nothing can have transitioned it before its hash is in the response.
        transaction.on_commit(lambda: store.put(split, confirm=False))
    log.info(
        "invoice.created",
        payment_hash=split.payment_hash,
        merchant_id=merchant.pk,
        kind=split.kind,
        total=split.total_amount,
        base=split.base_amount,
        tip=split.tip_amount,
        legs=len(legs),
    )
    return split
