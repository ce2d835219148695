"""Cashier PINs (one per staff member per terminal) and the merchant's receipt details.

A PIN is 4-8 digits, stored only as a Django password hash. Guessing is bounded twice: each PIN row
counts wrong tries and locks for ``CASHIER_PIN_LOCKOUT_SECONDS`` after ``CASHIER_PIN_MAX_FAILURES`` in a
row, and the sign-in view counts failures per client address (``blinkpos.auth_throttle``, scope
``cashier``). docs/ARCHITECTURE.md, Receipts and the cashier's view.
"""

from __future__ import annotations

import functools
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import CashierPin, Merchant, Staff, Terminal

log = get_logger(__name__)

_PIN = re.compile(r"[0-9]{4,8}")
WRONG_PIN = "Wrong PIN, or no PIN for this person on this terminal."


class CashierPinRefused(ApplicationError):
    code = "pin_refused"
    http_status = 400

    def __init__(self) -> None:
        super().__init__(WRONG_PIN, fields={"pin": [WRONG_PIN]})


class CashierPinLocked(ApplicationError):
    code = "pin_locked"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        message = "Too many wrong PINs: this PIN is locked for a while. Ask the manager."
        super().__init__(message, fields={"pin": [message]}, retry_after=retry_after)


def cashier_pin_set(
    *, merchant: Merchant, terminal_id: int, staff_id: int, pin: str, can_refund: bool = False
) -> CashierPin:
    """Give (or replace) the PIN of one of the merchant's active staff on one of its active terminals.
    Replacing resets the lockout and ends sessions opened with the old PIN (``updated_at`` changes)."""
    errors: dict[str, list[str]] = {}
    terminal = Terminal.objects.filter(pk=terminal_id, merchant=merchant, revoked_at__isnull=True).first()
    if terminal is None:
        errors["terminal"] = ["Choose one of your active terminals."]
    staff = Staff.objects.filter(pk=staff_id, merchant=merchant, is_active=True).first()
    if staff is None:
        errors["staff"] = ["Choose one of your active staff members."]
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        errors["pin"] = ["4 to 8 digits."]
    if errors:
        raise ValidationError(errors)
    pin_row, _ = CashierPin.objects.update_or_create(
        terminal=terminal,
        staff=staff,
        defaults={
            "pin_hash": make_password(pin),
            "can_refund": bool(can_refund),
            "failed_attempts": 0,
            "locked_until": None,
        },
    )
    log.info("cashier_pin.set", pin_id=pin_row.pk, terminal_id=terminal_id, staff_id=staff_id, can_refund=can_refund)
    return pin_row


def cashier_pin_delete(*, merchant: Merchant, pin_id: int) -> bool:
    """Remove a PIN (its sessions end at their next request). False when there is no such PIN."""
    deleted, _ = CashierPin.objects.filter(pk=pin_id, terminal__merchant=merchant).delete()
    if deleted:
        log.info("cashier_pin.deleted", pin_id=pin_id, merchant_id=merchant.pk)
    return bool(deleted)


@functools.cache
def _dummy_hash() -> str:
    # check_password(pin, None) raises TypeError on Django 5.2 (a 500 for a person without a PIN).
    return make_password(secrets.token_hex(8))


def cashier_pin_verify(*, terminal: Terminal, staff_id: int, pin: str) -> CashierPin:
    """The PIN row when ``pin`` is right for this staff member on this terminal.

    Raises ``CashierPinRefused`` (wrong PIN, or no such PIN: the same answer) or ``CashierPinLocked``.
    A wrong PIN is counted under the row lock, so concurrent guesses cannot share one count.
    """
    now = timezone.now()
    refused_for: int | None = None  # seconds locked, or 0 for a plain refusal
    with transaction.atomic():
        row = (
            CashierPin.objects.select_for_update()
            .filter(terminal=terminal, staff_id=staff_id, staff__is_active=True)
            .first()
        )
        if row is None:
            check_password(pin, _dummy_hash())  # spends the hasher's time, so an unknown person answers as slowly
            refused_for = 0
        elif row.locked_until is not None and row.locked_until > now:
            refused_for = int((row.locked_until - now).total_seconds()) + 1
        elif check_password(pin, row.pin_hash):
            if row.failed_attempts or row.locked_until:
                CashierPin.objects.filter(pk=row.pk).update(failed_attempts=0, locked_until=None)
        else:
            row.failed_attempts += 1
            refused_for = 0
            if row.failed_attempts >= settings.CASHIER_PIN_MAX_FAILURES:
                row.failed_attempts = 0
                row.locked_until = now + timedelta(seconds=settings.CASHIER_PIN_LOCKOUT_SECONDS)
                refused_for = settings.CASHIER_PIN_LOCKOUT_SECONDS
                log.warning("cashier_pin.locked", pin_id=row.pk, terminal_id=terminal.pk)
            # not through save(): updated_at must not change (it would end the PIN's open sessions)
            CashierPin.objects.filter(pk=row.pk).update(
                failed_attempts=row.failed_attempts, locked_until=row.locked_until
            )
    # Raised after the commit: the counted failure must not roll back with the exception.
    if refused_for is not None:
        raise CashierPinLocked(retry_after=refused_for) if refused_for else CashierPinRefused()
    assert row is not None
    return row


def merchant_update_receipt_details(*, merchant: Merchant, address: str, footer: str) -> Merchant:
    """The address lines and closing line printed on the merchant's receipts."""
    address = (address or "").replace("\r\n", "\n").strip()
    footer = (footer or "").strip()
    errors: dict[str, list[str]] = {}
    if len(address) > 300:
        errors["receipt_address"] = ["At most 300 characters."]
    if len(address.splitlines()) > 4:
        errors["receipt_address"] = ["At most 4 lines."]
    if len(footer) > 200:
        errors["receipt_footer"] = ["At most 200 characters."]
    if "\n" in footer:
        errors["receipt_footer"] = ["One line."]
    if errors:
        raise ValidationError(errors)
    merchant.receipt_address = address
    merchant.receipt_footer = footer
    merchant.save(update_fields=["receipt_address", "receipt_footer", "updated_at"])
    return merchant
