"""Invoices that are not a cashier's sale (docs/ARCHITECTURE.md, Pay codes and tips after payment):

- a pay code's LNURL-pay callback (``paycode_invoice_create``): a merchant code is a sale with no tip
  (kind ``paycode``: base = amount), a staff or team code a tip alone (kind ``tip_only``: base 0, the
  whole amount allocated to the tip shares exactly like a sale's tip). The invoice's description hash
  is SHA-256 of the code's LNURL metadata (LUD-06), so it is created with ``descriptionHash``.
- "add a tip" on a completed sale's receipt (``receipt_tip_create``): kind ``tip_only`` with
  ``tip_for`` = the sale, to the sale's own tip recipients (its staff member or split profile; the
  merchant when the sale named none).

Both then follow ``split_record`` (one provider call outside any transaction, then one transaction)
and are detected, forwarded, reconciled and reported like any split. Refusals are field-keyed
``ValidationError``s (``amount_sats``, ``tip_percent``, ``staff_id``, ``split_profile_id``, ``sale``)
or the provider errors of ``platform_invoice_create``; nothing is written then.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings

from blinkpos.logging import get_logger
from payments.domain.allocation import allocate, tip_from_percent
from payments.lnurl.invoice_check import metadata_hash
from payments.metrics import timed
from payments.models import PayCode, PayCodeKind, PaymentSplit, SplitKind, SplitProfile, SplitStatus, Staff
from payments.services.pricing import BTC_PRICE, ProviderError, ProviderUnavailable, price_get
from payments.services.split_record import (
    DISPLAY_PLACES,
    invalid,
    platform_invoice_create,
    recipient_shares,
    split_record,
    tip_recipient_label,
)
from payments.wallet.conversion import sats_to_fiat
from payments.wallet.types import Price

log = get_logger(__name__)

# Unpaid "add a tip" invoices a sale may have at once: each is a provider invoice on the shared
# platform account, and the page is public.
MAX_PENDING_TIPS_PER_SALE = 3
INACTIVE_CODE = "This pay code is not active."


def _display_price(currency: str) -> Price:
    """The merchant's display price, or BTC when the provider cannot say: a customer's payment is
    never refused for a display detail."""
    try:
        return price_get(currency=currency)
    except (ProviderUnavailable, ProviderError):
        return BTC_PRICE


def _create(
    *,
    split_kind: str,
    pay_code: PayCode | None,
    tip_for: PaymentSplit | None,
    merchant_id: int,
    base: int,
    tip: int,
    tip_percent: Decimal | None,
    staff: Staff | None,
    split_profile: SplitProfile | None,
    memo: str | None,
    description_hash: str | None,
) -> PaymentSplit:
    source = pay_code if pay_code is not None else tip_for
    assert source is not None
    merchant = source.merchant
    if merchant.pk != merchant_id or not merchant.is_active:
        raise invalid("merchant", "This merchant is not active.")
    shares, staff_by_wallet = recipient_shares(merchant, staff, split_profile)
    total = base + tip
    if total > settings.MAX_INVOICE_SATS:
        raise invalid("amount_sats", f"Must be at most {settings.MAX_INVOICE_SATS} sats.")
    allocations = allocate(base_amount=base, tip_amount=tip, merchant=merchant.wallet_id, tip_shares=shares)
    price = _display_price(merchant.display_currency or "BTC")
    external_id = uuid.uuid4().hex
    expiry_minutes = settings.INVOICE_EXPIRY_MINUTES
    invoice = platform_invoice_create(
        merchant=merchant,
        total=total,
        memo=memo,
        external_id=external_id,
        expiry_minutes=expiry_minutes,
        description_hash=description_hash,
    )
    return split_record(
        merchant=merchant,
        invoice=invoice,
        external_id=external_id,
        expiry_minutes=expiry_minutes,
        allocations=allocations,
        staff_by_wallet=staff_by_wallet,
        fields={
            "kind": split_kind,
            "pay_code": pay_code,
            "tip_for": tip_for,
            "terminal": None,
            "total_amount": total,
            "base_amount": base,
            "tip_amount": tip,
            "tip_percent": tip_percent,
            "display_currency": price.currency,
            "base_amount_display": sats_to_fiat(base, price=price).quantize(DISPLAY_PLACES),
            "tip_amount_display": sats_to_fiat(tip, price=price).quantize(DISPLAY_PLACES),
            "sats_per_unit": price.sats_per_unit.quantize(DISPLAY_PLACES),
            "tip_recipient": tip_recipient_label(staff, split_profile),
            "staff": staff,
            "split_profile": split_profile,
            "memo": memo or "",
            "metadata": {
                "source": "paycode" if pay_code is not None else "receipt_tip",
                "expires_in_minutes": expiry_minutes,
            },
        },
    )


def paycode_invoice_create(*, pay_code: PayCode, amount_sats: int, metadata: str) -> PaymentSplit:
    """The invoice behind a pay code's LNURL-pay callback, for ``amount_sats`` (already within the
    code's bounds, see ``payments.lnurl.server.callback_amount_sats``) with ``description_hash`` =
    SHA-256(``metadata``), the exact string the payRequest served.

    Side effects: one provider invoice; one split (kind ``paycode`` or ``tip_only``) with its legs and
    ``created`` event; ``tip:{hash}``. Raises as the module docstring says.
    """
    with timed("create_invoice"):
        if not pay_code.is_active:
            raise invalid("pay_code", INACTIVE_CODE)
        if type(amount_sats) is not int or not pay_code.min_sendable_sats <= amount_sats <= pay_code.max_sendable_sats:
            raise invalid("amount_sats", "Outside this code's bounds.")
        tip_only = pay_code.kind != PayCodeKind.MERCHANT
        split = _create(
            split_kind=SplitKind.TIP_ONLY if tip_only else SplitKind.PAYCODE,
            pay_code=pay_code,
            tip_for=None,
            merchant_id=pay_code.merchant_id,
            base=0 if tip_only else amount_sats,
            tip=amount_sats if tip_only else 0,
            tip_percent=None,
            staff=pay_code.staff,
            split_profile=pay_code.split_profile,
            memo=None,
            description_hash=metadata_hash(metadata),
        )
    log.info("paycode.invoice_created", pay_code_id=pay_code.pk, payment_hash=split.payment_hash, amount=amount_sats)
    return split


def receipt_tip_create(
    *, sale: PaymentSplit, amount_sats: int | None = None, tip_percent: Decimal | None = None
) -> PaymentSplit:
    """A tip alone for a completed sale, to the sale's tip recipients, as ``amount_sats`` or as
    ``tip_percent`` (0-100, two places) of the sale's base. Raises as the module docstring says."""
    if sale.kind == SplitKind.TIP_ONLY or sale.status != SplitStatus.COMPLETED:
        raise invalid("sale", "A tip can be added to a completed sale only.")
    if (amount_sats is None) == (tip_percent is None):
        raise invalid("amount_sats", "Give the tip either in sats or as a percent.")
    if tip_percent is not None:
        if not isinstance(tip_percent, Decimal) or not tip_percent.is_finite() or not 0 < tip_percent <= 100:
            raise invalid("tip_percent", "Must be a number above 0 and at most 100.")
        if tip_percent != tip_percent.quantize(Decimal("0.01")):
            raise invalid("tip_percent", "At most 2 decimal places.")
        tip = tip_from_percent(base_amount=sale.base_amount, percent=tip_percent)
        field = "tip_percent"
    else:
        if type(amount_sats) is not int or amount_sats <= 0:
            raise invalid("amount_sats", "Must be a whole number of sats, at least 1.")
        tip, field = amount_sats, "amount_sats"
    if tip <= 0:
        raise invalid(field, "Less than one sat.")
    cap = max(sale.base_amount, sale.total_amount) * settings.MAX_TIP_MULTIPLE
    if tip > cap:
        raise invalid(field, f"The tip may be at most {settings.MAX_TIP_MULTIPLE}x the sale ({cap} sats).")
    pending = PaymentSplit.objects.filter(tip_for=sale, status=SplitStatus.PENDING).count()
    if pending >= MAX_PENDING_TIPS_PER_SALE:
        raise invalid("sale", "Too many unpaid tips for this sale; pay or let one expire first.")
    with timed("create_invoice"):
        split = _create(
            split_kind=SplitKind.TIP_ONLY,
            pay_code=None,
            tip_for=sale,
            merchant_id=sale.merchant_id,
            base=0,
            tip=tip,
            tip_percent=tip_percent,
            staff=sale.staff,
            split_profile=sale.split_profile,
            memo=f"Tip at {sale.merchant.name}"[:200],
            description_hash=None,
        )
    log.info("receipt_tip.created", sale_id=sale.pk, payment_hash=split.payment_hash, tip=tip)
    return split
