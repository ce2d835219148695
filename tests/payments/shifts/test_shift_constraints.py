"""What PostgreSQL enforces for shifts and pools whatever code runs: one open shift per group, one open
clock entry per person, allocations that conserve, and append-only audit rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from payments.models import ClockCorrection, ClockEntry, PoolAllocation, Shift, ShiftEvent, TerminalGroup
from tests.factories import MerchantFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shift() -> Shift:
    merchant = MerchantFactory()
    group = TerminalGroup.objects.create(merchant=merchant, name="Bar")
    return Shift.objects.create(merchant=merchant, group=group, opened_at=timezone.now())


def test_one_open_shift_per_group(shift: Shift) -> None:
    with pytest.raises(IntegrityError, match="shift_one_open_per_group"), transaction.atomic():
        Shift.objects.create(merchant=shift.merchant, group=shift.group, opened_at=timezone.now())


def test_one_open_entry_per_person(shift: Shift) -> None:
    staff = StaffFactory(merchant=shift.merchant)
    ClockEntry.objects.create(shift=shift, staff=staff, clock_in_at=timezone.now(), source="api")

    with pytest.raises(IntegrityError, match="clock_one_open_entry_per_staff"), transaction.atomic():
        ClockEntry.objects.create(shift=shift, staff=staff, clock_in_at=timezone.now(), source="api")


def test_an_allocation_conserves_and_is_never_negative(shift: Shift) -> None:
    staff = StaffFactory(merchant=shift.merchant)

    with pytest.raises(IntegrityError, match="pool_allocation_conserves"), transaction.atomic():
        PoolAllocation.objects.create(shift=shift, staff=staff, share_sats=100, adjustment_sats=10, amount_sats=100)
    with pytest.raises(IntegrityError, match="pool_allocation_nonnegative"), transaction.atomic():
        PoolAllocation.objects.create(shift=shift, staff=staff, share_sats=10, adjustment_sats=20, amount_sats=-10)


STATEMENTS = [
    "UPDATE shift_events SET id = id",
    "DELETE FROM shift_events",
    "UPDATE clock_corrections SET id = id",
    "DELETE FROM clock_corrections",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_audit_rows_are_append_only(shift: Shift, statement: str) -> None:
    staff = StaffFactory(merchant=shift.merchant)
    entry = ClockEntry.objects.create(shift=shift, staff=staff, clock_in_at=timezone.now(), source="api")
    ShiftEvent.objects.create(shift=shift, event_type="clocked_in")
    ClockCorrection.objects.create(
        entry=entry,
        corrected_by="merchant:1",
        old_clock_in_at=timezone.now(),
        new_clock_in_at=timezone.now(),
        reason="x",
    )

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
