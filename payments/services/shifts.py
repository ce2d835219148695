"""Shifts: clocking in and out, a manager's corrections, and which shift a pooled sale belongs to
(docs/ARCHITECTURE.md, Shifts and pooled tips).

- A shift belongs to a merchant and a terminal group; at most one is open per group (a partial
  unique index). The first clock-in of a group with no open shift opens one; the merchant closes it
  (``payments.services.shift_close``).
- A person has at most one open clock entry anywhere (a partial unique index): a second clock-in is
  refused, not a second row.
- A correction rewrites an entry's times and appends a ``ClockCorrection`` row (who, when, old, new,
  why) in the same transaction, under the shift's lock; once the shift is closed it is refused, so
  the allocation paid is the one the times explain.

Locks: the shift row first (``select_for_update``), then its entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from blinkpos.errors import ApplicationError
from blinkpos.logging import get_logger
from payments.models import (
    CashierPin,
    ClockCorrection,
    ClockEntry,
    Merchant,
    Shift,
    ShiftEvent,
    ShiftStatus,
    Staff,
    Terminal,
    TerminalGroup,
)
from payments.models.shifts import REASON_MAX_CHARS, TipMode
from payments.services.cashier_pins import CashierPinRefused, cashier_pin_verify

log = get_logger(__name__)

UNKNOWN_STAFF = "Unknown staff member."


class ShiftRefused(ApplicationError):
    code = "shift_refused"
    http_status = 400


def shift_event(shift: Shift | None, event_type: str, data: dict[str, Any], *, payout_id: int | None = None) -> None:
    """Append to the shift trail (append-only; a trigger refuses UPDATE and DELETE)."""
    ShiftEvent.objects.create(shift=shift, payout_id=payout_id, event_type=event_type, event_data=data)


def _not_found(field: str, message: str) -> ShiftRefused:
    return ShiftRefused(message, code="not_found", fields={field: [message]}, http_status=404)


def shift_for_merchant(*, merchant: Merchant, shift_id: object) -> Shift:
    """The merchant's shift, or a 404 that does not say whether another merchant has one."""
    if not isinstance(shift_id, int) or isinstance(shift_id, bool):
        raise _not_found("shift_id", "Unknown shift.")
    shift = Shift.objects.filter(pk=shift_id, merchant=merchant).select_related("group").first()
    if shift is None:
        raise _not_found("shift_id", "Unknown shift.")
    return shift


def _lock_shift(shift_id: int) -> Shift:
    return Shift.objects.select_for_update(of=("self",)).get(pk=shift_id)


def _staff_of(merchant: Merchant, staff_id: object) -> Staff:
    if not isinstance(staff_id, int) or isinstance(staff_id, bool):
        raise ShiftRefused(UNKNOWN_STAFF, code="invalid_input", fields={"staff_id": [UNKNOWN_STAFF]})
    staff = Staff.objects.filter(pk=staff_id, merchant=merchant, is_active=True).first()
    if staff is None:
        raise ShiftRefused(UNKNOWN_STAFF, code="invalid_input", fields={"staff_id": [UNKNOWN_STAFF]})
    return staff


def group_of_terminal(terminal: Terminal) -> TerminalGroup:
    if terminal.group_id is None:
        message = "This terminal belongs to no terminal group; the merchant assigns one first."
        raise ShiftRefused(message, code="no_group", fields={"terminal": [message]}, http_status=409)
    assert terminal.group is not None
    return terminal.group


def group_for_merchant(*, merchant: Merchant, group_id: object) -> TerminalGroup:
    if not isinstance(group_id, int) or isinstance(group_id, bool):
        raise ShiftRefused("Unknown terminal group.", code="invalid_input", fields={"group_id": ["Unknown group."]})
    group = TerminalGroup.objects.filter(pk=group_id, merchant=merchant).first()
    if group is None:
        raise ShiftRefused("Unknown terminal group.", code="invalid_input", fields={"group_id": ["Unknown group."]})
    return group


def open_shift_of_group(group: TerminalGroup) -> Shift | None:
    return Shift.objects.filter(group=group, status=ShiftStatus.OPEN).first()


def _open_shift_locked(group: TerminalGroup, now: datetime) -> Shift:
    """The group's open shift, opened now if there is none. Two first clock-ins race on the partial
    unique index: the loser reads the winner's shift."""
    shift = Shift.objects.select_for_update(of=("self",)).filter(group=group, status=ShiftStatus.OPEN).first()
    if shift is not None:
        return shift
    try:
        with transaction.atomic():
            shift = Shift.objects.create(merchant_id=group.merchant_id, group=group, opened_at=now)
            shift_event(shift, "shift_opened", {"group_id": group.pk})
            return shift
    except IntegrityError:
        return _lock_shift(Shift.objects.get(group=group, status=ShiftStatus.OPEN).pk)


@dataclass(frozen=True, kw_only=True)
class ClockResult:
    entry: ClockEntry
    shift: Shift
    clocked_in: bool  # True: this call clocked in; False: it clocked out


def clock_in(*, merchant: Merchant, group: TerminalGroup, staff_id: object, source: str) -> ClockResult:
    """Clock ``staff_id`` in on ``group``'s open shift (opening one). 409 when already clocked in."""
    staff = _staff_of(merchant, staff_id)
    if group.merchant_id != merchant.pk:
        raise ShiftRefused("Unknown terminal group.", code="invalid_input", fields={"group_id": ["Unknown group."]})
    now = timezone.now()
    try:
        with transaction.atomic():
            shift = _open_shift_locked(group, now)
            entry = ClockEntry.objects.create(shift=shift, staff=staff, clock_in_at=now, source=source)
            shift_event(shift, "clocked_in", {"staff_id": staff.pk, "entry_id": entry.pk, "source": source})
    except IntegrityError as exc:  # clock_one_open_entry_per_staff
        message = f"{staff.display_name} is already clocked in."
        raise ShiftRefused(message, code="already_clocked_in", fields={"staff_id": [message]}, http_status=409) from exc
    log.info("shift.clocked_in", shift_id=shift.pk, staff_id=staff.pk, source=source)
    return ClockResult(entry=entry, shift=shift, clocked_in=True)


def clock_out(*, merchant: Merchant, staff_id: object, source: str) -> ClockResult:
    """Close ``staff_id``'s open entry now. 409 when not clocked in."""
    staff = _staff_of(merchant, staff_id)
    with transaction.atomic():
        entry = (
            ClockEntry.objects.select_for_update(of=("self",))
            .filter(staff=staff, clock_out_at__isnull=True)
            .select_related("shift")
            .first()
        )
        if entry is None:
            message = f"{staff.display_name} is not clocked in."
            raise ShiftRefused(message, code="not_clocked_in", fields={"staff_id": [message]}, http_status=409)
        entry.clock_out_at = max(timezone.now(), entry.clock_in_at)
        entry.save(update_fields=["clock_out_at"])
        shift_event(entry.shift, "clocked_out", {"staff_id": staff.pk, "entry_id": entry.pk, "source": source})
    log.info("shift.clocked_out", shift_id=entry.shift_id, staff_id=staff.pk, source=source)
    return ClockResult(entry=entry, shift=entry.shift, clocked_in=False)


def clock_toggle(*, merchant: Merchant, group: TerminalGroup, staff_id: object, source: str) -> ClockResult:
    """The POS button: clock out when clocked in, else clock in on ``group``."""
    staff = _staff_of(merchant, staff_id)
    if ClockEntry.objects.filter(staff=staff, clock_out_at__isnull=True).exists():
        return clock_out(merchant=merchant, staff_id=staff.pk, source=source)
    return clock_in(merchant=merchant, group=group, staff_id=staff.pk, source=source)


def _parse_time(value: object, field: str, *, required: bool) -> datetime | None:
    if value in (None, "") and not required:
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise ShiftRefused("Give a date and time.", code="invalid_input", fields={field: ["Give a date and time."]})
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def clock_correct(
    *, merchant: Merchant, entry_id: object, clock_in_at: object, clock_out_at: object, reason: object, by: str
) -> ClockEntry:
    """A manager's correction of one entry of an open shift, audited. Refused after close (409),
    for another merchant's entry (404), for times out of order or in the future (400, naming the field)."""
    if not isinstance(entry_id, int) or isinstance(entry_id, bool):
        raise _not_found("entry_id", "Unknown clock entry.")
    entry = ClockEntry.objects.filter(pk=entry_id, shift__merchant=merchant).first()
    if entry is None:
        raise _not_found("entry_id", "Unknown clock entry.")
    if not isinstance(reason, str) or not reason.strip():
        raise ShiftRefused("Say why.", code="invalid_input", fields={"reason": ["Say why the time changes."]})
    if len(reason) > REASON_MAX_CHARS:
        message = f"At most {REASON_MAX_CHARS} characters."
        raise ShiftRefused(message, code="invalid_input", fields={"reason": [message]})
    new_in = _parse_time(clock_in_at, "clock_in_at", required=True)
    new_out = _parse_time(clock_out_at, "clock_out_at", required=False)
    assert new_in is not None
    now = timezone.now()
    if new_in > now:
        raise ShiftRefused("Not in the future.", code="invalid_input", fields={"clock_in_at": ["Not in the future."]})
    if new_out is not None and (new_out < new_in or new_out > now):
        message = "After the clock-in time and not in the future."
        raise ShiftRefused(message, code="invalid_input", fields={"clock_out_at": [message]})
    with transaction.atomic():
        shift = _lock_shift(entry.shift_id)
        if shift.status != ShiftStatus.OPEN:
            message = "This shift is closed: its times were paid as they are."
            raise ShiftRefused(message, code="shift_closed", http_status=409)
        entry = ClockEntry.objects.select_for_update(of=("self",)).get(pk=entry.pk)
        if new_out is None and entry.clock_out_at is not None:
            message = "A closed entry keeps a clock-out time."
            raise ShiftRefused(message, code="invalid_input", fields={"clock_out_at": [message]})
        correction = ClockCorrection.objects.create(
            entry=entry,
            corrected_by=by[:100],
            old_clock_in_at=entry.clock_in_at,
            old_clock_out_at=entry.clock_out_at,
            new_clock_in_at=new_in,
            new_clock_out_at=new_out,
            reason=reason.strip(),
        )
        entry.clock_in_at, entry.clock_out_at = new_in, new_out
        entry.save(update_fields=["clock_in_at", "clock_out_at"])
        shift_event(shift, "clock_corrected", {"entry_id": entry.pk, "correction_id": correction.pk, "by": by[:100]})
    log.info("shift.clock_corrected", shift_id=shift.pk, entry_id=entry.pk)
    return entry


def pool_shift_for_sale(
    *, merchant: Merchant, terminal: Terminal | None, group: TerminalGroup | None = None
) -> Shift | None:
    """The shift a new sale's tip is pooled into: the merchant is in pooled mode and the sale's group (the
    terminal's, or for the web POS the group it was set to) has an open shift. None: the tip is
    forwarded per sale (the default)."""
    group_id = terminal.group_id if terminal is not None else (group.pk if group is not None else None)
    if merchant.tip_mode != TipMode.POOLED or group_id is None:
        return None
    if group is not None and group.merchant_id != merchant.pk:
        return None
    return Shift.objects.filter(group_id=group_id, status=ShiftStatus.OPEN).first()


def pos_pin_verify(*, merchant: Merchant, group: TerminalGroup, staff_id: object, pin: object) -> None:
    """The web POS is no terminal: it accepts the staff member's cashier PIN of a terminal in ``group``
    (the first such PIN, with that PIN's failure count and lockout). Raises the PIN refusals."""
    if not isinstance(staff_id, int) or not isinstance(pin, str):
        raise CashierPinRefused()
    row = (
        CashierPin.objects.filter(
            staff_id=staff_id,
            staff__merchant=merchant,
            terminal__group=group,
            terminal__revoked_at__isnull=True,
        )
        .select_related("terminal")
        .order_by("pk")
        .first()
    )
    if row is None:
        raise CashierPinRefused()
    cashier_pin_verify(terminal=row.terminal, staff_id=staff_id, pin=pin)
