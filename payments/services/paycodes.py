"""Managing pay codes (docs/ARCHITECTURE.md, Pay codes and tips after payment): create, deactivate.

Validation errors name the form's inputs (``username``, ``kind``, ``staff_id``, ``split_profile_id``,
``min_sendable_sats``, ``max_sendable_sats``); a refused request writes nothing.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.logging import get_logger
from payments.models import Merchant, PayCode, PayCodeKind, SplitProfile, Staff
from payments.models.paycodes import DEFAULT_MAX_SENDABLE_SATS, DEFAULT_MIN_SENDABLE_SATS, USERNAME_PATTERN
from payments.services.split_record import UNKNOWN_PROFILE, UNKNOWN_STAFF, invalid, recipient_shares

log = get_logger(__name__)

_USERNAME = re.compile(USERNAME_PATTERN)
USERNAME_TAKEN = "This name is taken; choose another."


def _check_bounds(min_sats: int | None, max_sats: int | None) -> tuple[int, int]:
    low = DEFAULT_MIN_SENDABLE_SATS if min_sats is None else min_sats
    high = min(DEFAULT_MAX_SENDABLE_SATS, settings.MAX_INVOICE_SATS) if max_sats is None else max_sats
    if type(low) is not int or low < 1:
        raise invalid("min_sendable_sats", "Must be a whole number of sats, at least 1.")
    if type(high) is not int or high < 1 or high > settings.MAX_INVOICE_SATS:
        raise invalid("max_sendable_sats", f"Must be a whole number of sats from 1 to {settings.MAX_INVOICE_SATS}.")
    if high < low:
        raise invalid("max_sendable_sats", "Must be at least the minimum.")
    return low, high


def paycode_create(
    *,
    merchant: Merchant,
    kind: str,
    username: str,
    staff: Staff | None = None,
    split_profile: SplitProfile | None = None,
    min_sendable_sats: int | None = None,
    max_sendable_sats: int | None = None,
) -> PayCode:
    """A new active code. The recipient must be the merchant's and payable now (the same checks as a
    sale's tip recipient). Raises a field-keyed ``ValidationError``; writes nothing then."""
    if kind not in PayCodeKind.values:
        raise invalid("kind", f"Must be one of {', '.join(PayCodeKind.values)}.")
    name = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.fullmatch(name):
        raise invalid("username", "Use 1-64 characters: lower-case letters, digits, '-', '_' and '.'.")
    if kind == PayCodeKind.STAFF:
        if staff is None:
            raise invalid("staff_id", "A staff tip code needs a staff member.")
        if split_profile is not None:
            raise invalid("split_profile_id", "A staff tip code pays one staff member, not a profile.")
        recipient_shares(merchant, staff, None)
    elif kind == PayCodeKind.TEAM:
        if split_profile is None:
            raise invalid("split_profile_id", "A team tip code needs a split profile.")
        if staff is not None:
            raise invalid("staff_id", "A team tip code pays a split profile, not one staff member.")
        recipient_shares(merchant, None, split_profile)
    elif staff is not None or split_profile is not None:
        raise invalid("kind", "A merchant pay code pays the merchant; choose a tip code for staff.")
    low, high = _check_bounds(min_sendable_sats, max_sendable_sats)
    if not merchant.is_active:
        raise invalid("merchant", "This merchant is not active.")
    if PayCode.objects.filter(username__iexact=name).exists():
        raise invalid("username", USERNAME_TAKEN)
    try:
        with transaction.atomic():
            code = PayCode.objects.create(
                merchant=merchant,
                kind=kind,
                username=name,
                staff=staff,
                split_profile=split_profile,
                min_sendable_sats=low,
                max_sendable_sats=high,
            )
    except IntegrityError as exc:  # the same name taken concurrently
        raise invalid("username", USERNAME_TAKEN) from exc
    log.info("paycode.created", pay_code_id=code.pk, merchant_id=merchant.pk, kind=kind)
    return code


def paycode_deactivate(*, pay_code: PayCode) -> PayCode:
    """The code stops answering (LUD-06 error); payments already made through it are unaffected. The
    name stays taken, so a printed poster can never start paying someone else."""
    if pay_code.is_active:
        PayCode.objects.filter(pk=pay_code.pk).update(is_active=False, deactivated_at=timezone.now())
        pay_code.refresh_from_db()
        log.info("paycode.deactivated", pay_code_id=pay_code.pk, merchant_id=pay_code.merchant_id)
    return pay_code


__all__ = ["UNKNOWN_PROFILE", "UNKNOWN_STAFF", "paycode_create", "paycode_deactivate"]
