"""Confirming a shift pays what its review showed: whoever is still clocked in is clocked out at the
review's moment, not at the confirmation's; a stale, future or missing review time is refused and
nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import ClockEntry, PoolAllocation, PoolPayout, Shift, ShiftStatus
from payments.services.shift_close import shift_close_confirm, shift_close_preview
from payments.services.shifts import ShiftRefused
from tests.payments.shifts.conftest import PooledShop, Sell, work

pytestmark = pytest.mark.django_db(transaction=True)


def _still_working(shop: PooledShop, shift: Shift, index: int, hours: float) -> ClockEntry:
    entry = ClockEntry.objects.get(shift=shift, staff=shop.staff[index])
    ClockEntry.objects.filter(pk=entry.pk).update(
        clock_in_at=timezone.now() - timedelta(hours=hours), clock_out_at=None
    )
    return ClockEntry.objects.get(pk=entry.pk)


def test_confirming_later_pays_the_reviewed_shares_and_clocks_out_at_the_review(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: Ann worked 1 h and left; Bo has worked 1 h and is still clocked in at the review
    shift = work(pooled_shop, {0: 1, 1: 1})
    entry = _still_working(pooled_shop, shift, 1, 1)
    sell(base=1000, tip=301)
    review = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)
    reviewed = {p.staff_id: p.amount_sats for p in review.people}
    assert review.as_of is not None

    # when: the merchant confirms 20 minutes later (Bo's hours would have grown by a third)
    later = timezone.now() + timedelta(minutes=20)
    monkeypatch.setattr(timezone, "now", lambda: later)
    shift_close_confirm(
        merchant=pooled_shop.merchant,
        shift_id=shift.pk,
        fingerprint=review.fingerprint,
        as_of=review.as_of.isoformat(),
        by="merchant:test",
    )

    # then: exactly the reviewed amounts, and Bo's hours end at the review
    paid = {a.staff_id: a.amount_sats for a in PoolAllocation.objects.filter(shift=shift)}
    assert paid == reviewed and sum(paid.values()) == review.pool_sats
    assert ClockEntry.objects.get(pk=entry.pk).clock_out_at == review.as_of
    assert Shift.objects.get(pk=shift.pk).status == ShiftStatus.CLOSED


@pytest.mark.parametrize(
    ("as_of", "status", "why"),
    [
        (None, 400, "missing"),
        ("yesterday", 400, "not a date"),
        ("2026-12-01T10:00:00", 400, "no time zone"),
        ("future", 400, "in the future"),
        ("stale", 409, "more than 30 minutes old"),
    ],
)
def test_a_bad_review_time_is_refused_naming_as_of_and_writes_nothing(
    fake_blink: FakeBlink, pooled_shop: PooledShop, sell: Sell, as_of: str | None, status: int, why: str
) -> None:
    # given
    shift = work(pooled_shop, {0: 1})
    _still_working(pooled_shop, shift, 0, 1)
    sell(base=1000, tip=300)
    review = shift_close_preview(merchant=pooled_shop.merchant, shift_id=shift.pk)
    assert review.as_of is not None
    posted = {
        "future": (review.as_of + timedelta(minutes=5)).isoformat(),
        "stale": (review.as_of - timedelta(minutes=31)).isoformat(),
    }.get(as_of or "", as_of)

    # when
    with pytest.raises(ShiftRefused) as refused:
        shift_close_confirm(
            merchant=pooled_shop.merchant,
            shift_id=shift.pk,
            fingerprint=review.fingerprint,
            as_of=posted,
            by="merchant:test",
        )

    # then
    assert refused.value.http_status == status, why
    assert "as_of" in (refused.value.fields or {}), why
    assert Shift.objects.get(pk=shift.pk).status == ShiftStatus.OPEN
    assert not PoolAllocation.objects.filter(shift=shift).exists()
    assert not PoolPayout.objects.filter(shift=shift).exists()
    assert ClockEntry.objects.get(shift=shift).clock_out_at is None
