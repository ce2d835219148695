"""The merchant reports and platform statistics reshaped for 5 000 000 splits (migration 0006) give the
same figures as before and can be answered from the new indexes. Plans are checked with sequential
scans disabled, so the check is about what the indexes can serve, not about timings or table sizes."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics import merchant_reports, platform_statistics
from payments.models import LegStatus, Merchant, PaymentLeg, SplitStatus, Staff
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory, paid_split

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant() -> Merchant:
    return MerchantFactory(name="Alice's Cafe")


@pytest.fixture
def other_merchant() -> Merchant:
    return MerchantFactory(name="Bob's Bar")


def _tip_leg(split: Any, staff: Staff | None, amount: int, status: str = LegStatus.SUCCEEDED) -> PaymentLeg:
    return PaymentLegFactory(
        split=split,
        kind="tip",
        staff=staff,
        recipient_username=getattr(staff, "blink_username", "team"),
        recipient_wallet_id=secrets.token_hex(8),
        amount=amount,
        status=status,
    )


def _unfiltered_totals(merchant: Merchant) -> dict[int | None, dict[str, int]]:
    """tips_by_staff's aggregate as it was before the staff filter: every tip leg of a paid split."""
    legs = PaymentLeg.objects.filter(split__merchant=merchant, kind="tip", split__paid_at__isnull=False)
    return {
        row["staff_id"]: row
        for row in legs.values("staff_id").annotate(
            earned=Sum("amount", default=0),
            paid_out=Sum("amount", filter=Q(status=LegStatus.SUCCEEDED), default=0),
            resolved=Sum("amount", filter=Q(status=LegStatus.RESOLVED), default=0),
            pending=Sum("amount", filter=Q(status__in=merchant_reports.OPEN_LEG_STATUSES), default=0),
            count=Count("id"),
        )
    }


def test_tips_by_staff_figures_unchanged_by_the_staff_filter(merchant: Merchant, other_merchant: Merchant) -> None:
    dana = StaffFactory(merchant=merchant, display_name="Dana")
    eli = StaffFactory(merchant=merchant, display_name="Eli")
    idle = StaffFactory(merchant=merchant, display_name="Zed")  # no legs: listed with zeros
    outsider = StaffFactory(merchant=other_merchant, display_name="Outsider")
    paid_split(merchant, staff=dana, tip=200)
    resolved = paid_split(merchant, staff=eli, tip=90)
    resolved.legs.filter(kind="tip").update(status=LegStatus.RESOLVED)
    shared = paid_split(merchant, staff=dana, tip=0)
    _tip_leg(shared, eli, 40, LegStatus.UNKNOWN)  # owed
    _tip_leg(shared, outsider, 30)  # another merchant's staff on our sale: not one of our rows
    _tip_leg(shared, None, 20)  # a leg without staff: no row either
    unpaid = PaymentSplitFactory(merchant=merchant, status=SplitStatus.PENDING)
    _tip_leg(unpaid, dana, 500, LegStatus.PLANNED)  # not paid: not earned
    theirs = paid_split(other_merchant, staff=outsider, tip=10)
    _tip_leg(theirs, dana, 700)  # our staff on another merchant's sale: not ours

    rows = {t.staff.pk: t for t in merchant_reports.tips_by_staff(merchant=merchant)}

    assert [t.staff.display_name for t in merchant_reports.tips_by_staff(merchant=merchant)] == ["Dana", "Eli", "Zed"]
    before = _unfiltered_totals(merchant)
    for member in (dana, eli, idle):
        old = before.get(member.pk, {"earned": 0, "paid_out": 0, "resolved": 0, "pending": 0, "count": 0})
        new = rows[member.pk]
        assert (new.earned, new.paid_out, new.resolved, new.pending, new.count) == (
            old["earned"], old["paid_out"], old["resolved"], old["pending"], old["count"],
        )  # fmt: skip
    assert (rows[dana.pk].earned, rows[dana.pk].paid_out, rows[dana.pk].count) == (200, 200, 1)
    assert (rows[eli.pk].earned, rows[eli.pk].resolved, rows[eli.pk].pending, rows[eli.pk].count) == (130, 90, 40, 2)
    assert rows[idle.pk].count == 0 and rows[idle.pk].earned == 0


def test_tips_by_staff_for_a_merchant_without_staff_is_empty(merchant: Merchant) -> None:
    paid_split(merchant, staff=None, tip=0)
    assert merchant_reports.tips_by_staff(merchant=merchant) == []


def test_tips_by_staff_date_range_still_applies(merchant: Merchant) -> None:
    dana = StaffFactory(merchant=merchant, display_name="Dana")
    paid_split(merchant, staff=dana, tip=200, paid_at=timezone.now() - timedelta(days=5))
    paid_split(merchant, staff=dana, tip=70)
    today = timezone.localdate()
    (row,) = merchant_reports.tips_by_staff(merchant=merchant, date_from=today, date_to=today)
    assert (row.earned, row.count) == (70, 1)


def _plan(sql: str, params: list[Any]) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(r[0] for r in cursor.fetchall())


def test_daily_chart_read_is_index_only_on_the_day_index() -> None:
    start = timezone.now().date() - timedelta(days=platform_statistics.CHART_DAYS - 1)
    plan = _plan("SELECT date, total_volume, total_tips FROM payment_statistics WHERE date >= %s", [start])
    assert "Index Only Scan using idx_split_created_day" in plan


def test_daily_series_figures(merchant: Merchant) -> None:
    paid_split(merchant, tip=200, base=1800)
    PaymentSplitFactory(merchant=merchant, status=SplitStatus.EXPIRED, base_amount=5000, tip_amount=0)
    today = platform_statistics.daily_series()[-1]
    assert today["date"] == timezone.now().date() and (today["volume"], today["tips"]) == (2000, 200)


def test_merchant_paid_reads_are_index_only(merchant: Merchant) -> None:
    since = timezone.now() - timedelta(days=14)
    plan = _plan(
        "SELECT (paid_at AT TIME ZONE 'UTC')::date, sum(total_amount), sum(tip_amount) FROM payment_splits "
        "WHERE merchant_id = %s AND paid_at >= %s GROUP BY 1",
        [merchant.pk, since],
    )
    assert "Index Only Scan using idx_split_merchant_paid" in plan
    plan = _plan(
        "SELECT l.staff_id, sum(l.amount) FILTER (WHERE l.status = 'succeeded'), count(*) FROM payment_legs l "
        "JOIN payment_splits s ON s.id = l.split_id WHERE l.kind = 'tip' AND l.staff_id IN (%s) "
        "AND s.merchant_id = %s AND s.paid_at IS NOT NULL GROUP BY 1",
        [1, merchant.pk],
    )
    assert "Index Only Scan using idx_leg_tip_staff" in plan and "idx_split_merchant_paid" in plan
