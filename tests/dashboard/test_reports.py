"""Transactions, tips, statements, end-of-day report, charts and CSV exports; merchants kept apart."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import LegStatus, Merchant, PaymentEvent, SplitStatus
from tests.factories import PaymentLegFactory, PaymentSplitFactory, StaffFactory, paid_split

pytestmark = pytest.mark.django_db


def test_transactions_lists_only_own_sales(client_a: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    mine = paid_split(merchant)
    theirs = paid_split(other_merchant)
    body = client_a.get(reverse("dashboard:transactions")).content.decode()
    assert mine.payment_hash[:12] in body
    assert theirs.payment_hash[:12] not in body


def test_transactions_filters_and_search(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    done = paid_split(merchant, staff=staff_a, memo="table 7")
    pending = PaymentSplitFactory(merchant=merchant, status=SplitStatus.PENDING)
    old = paid_split(merchant)
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    url = reverse("dashboard:transactions")

    def listed(**params: object) -> list[str]:
        return [s.payment_hash for s in client_a.get(url, params).context["page"]]

    assert listed(status="pending") == [pending.payment_hash]
    assert listed(q=done.payment_hash[:10]) == [done.payment_hash]
    assert listed(q="table 7") == [done.payment_hash]
    assert listed(staff=staff_a.pk) == [done.payment_hash]
    assert old.payment_hash not in listed(date_from=(timezone.localdate() - timedelta(days=2)).isoformat())


def test_transactions_date_to_search_and_team_tips(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    # given: a sale late on the last day of the range, one tipped to a team through a leg only, one older
    late = paid_split(merchant, staff=staff_a)
    yesterday = timezone.localdate() - timedelta(days=1)
    type(late).objects.filter(pk=late.pk).update(
        created_at=timezone.now().replace(hour=23, minute=59) - timedelta(days=1)
    )
    team = paid_split(merchant, tip=0)
    PaymentLegFactory(
        split=team,
        kind="tip",
        staff=staff_a,
        recipient_username="dana",
        recipient_wallet_id=staff_a.wallet_id,
        amount=50,
    )
    url = reverse("dashboard:transactions")

    def listed(**params: object) -> list[str]:
        return [s.payment_hash for s in client_a.get(url, params).context["page"]]

    # then: date_to includes its whole day; staff matches a team leg; search ignores the hash's case
    assert listed(date_from=yesterday.isoformat(), date_to=yesterday.isoformat()) == [late.payment_hash]
    assert set(listed(staff=staff_a.pk)) == {late.payment_hash, team.payment_hash}
    assert listed(q=late.payment_hash[:10].upper()) == [late.payment_hash]
    assert listed(q="DAN") == [late.payment_hash]  # the split's tip recipient, not a team leg's


@pytest.mark.parametrize(
    ("params", "field"),
    [({"date_from": "yesterday"}, "date_from"), ({"status": "lost"}, "status"), ({"staff": "999999"}, "staff")],
)
def test_bad_filters_are_a_400_naming_the_field(client_a: Client, params: dict[str, str], field: str) -> None:
    response = client_a.get(reverse("dashboard:transactions"), params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert client_a.get(reverse("dashboard:transactions-csv"), params).status_code == 400


def test_transaction_detail_shows_legs_and_audit_trail(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    split = paid_split(merchant, staff=staff_a)
    PaymentEvent.objects.create(split_id=split.payment_hash, event_type="paid", from_status="pending", to_status="paid")
    body = client_a.get(reverse("dashboard:transaction", args=[split.payment_hash])).content.decode()
    tip_leg = split.legs.get(kind="tip")
    assert tip_leg.preimage in body and "@dana" in body
    assert "paid" in body and "Audit trail" in body


def test_another_merchants_transaction_is_404(client_a: Client, other_merchant: Merchant) -> None:
    theirs = paid_split(other_merchant)
    assert client_a.get(reverse("dashboard:transaction", args=[theirs.payment_hash])).status_code == 404


def test_transactions_csv_export(client_a: Client, merchant: Merchant, other_merchant: Merchant) -> None:
    mine = paid_split(merchant, memo="@SUM(A1)")
    paid_split(other_merchant)
    response = client_a.get(reverse("dashboard:transactions-csv"))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert [r["payment_hash"] for r in rows] == [mine.payment_hash]
    assert rows[0]["total_sats"] == "2000" and rows[0]["memo"] == "'@SUM(A1)"


def test_tips_per_staff_earned_paid_out_pending(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    paid_split(merchant, staff=staff_a, tip=200)
    owed = paid_split(merchant, staff=staff_a, tip=50, status=SplitStatus.FAILED)
    owed.legs.filter(kind="tip").update(status=LegStatus.UNKNOWN)
    PaymentSplitFactory(merchant=merchant, staff=staff_a, status=SplitStatus.PENDING)  # unpaid: not earned
    rows = client_a.get(reverse("dashboard:tips")).context["rows"]
    dana = next(r for r in rows if r.staff == staff_a)
    assert (dana.earned, dana.paid_out, dana.pending, dana.count) == (250, 200, 50, 2)


def test_tips_period_filter(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    paid_split(merchant, staff=staff_a, tip=200, paid_at=timezone.now() - timedelta(days=5))
    paid_split(merchant, staff=staff_a, tip=70)
    today = timezone.localdate().isoformat()
    rows = client_a.get(reverse("dashboard:tips"), {"date_from": today, "date_to": today}).context["rows"]
    assert rows[0].earned == 70
    assert client_a.get(reverse("dashboard:tips"), {"date_from": "soon"}).status_code == 400


def test_staff_statement_lists_each_payout_with_hash_and_preimage(
    client_a: Client, merchant: Merchant, staff_a: object
) -> None:
    split = paid_split(merchant, staff=staff_a, tip=120)
    leg = split.legs.get(kind="tip")
    body = client_a.get(reverse("dashboard:statement", args=[staff_a.pk])).content.decode()
    assert leg.payment_hash in body and leg.preimage in body

    csv_rows = list(
        csv.DictReader(
            io.StringIO(client_a.get(reverse("dashboard:statement-csv", args=[staff_a.pk])).content.decode())
        )
    )
    assert csv_rows == [
        {
            **csv_rows[0],
            "tip_sats": "120",
            "payout_payment_hash": leg.payment_hash,
            "preimage": leg.preimage,
            "sale_payment_hash": split.payment_hash,
        }
    ]


def test_another_merchants_staff_statement_is_404(client_a: Client, other_merchant: Merchant) -> None:
    foreign = StaffFactory(merchant=other_merchant)
    assert client_a.get(reverse("dashboard:statement", args=[foreign.pk])).status_code == 404
    assert client_a.get(reverse("dashboard:statement-csv", args=[foreign.pk])).status_code == 404


def test_end_of_day_report(client_a: Client, merchant: Merchant, staff_a: object, other_merchant: Merchant) -> None:
    paid_split(merchant, staff=staff_a, base=1000, tip=100)
    stuck = paid_split(merchant, base=500, tip=0, status=SplitStatus.PROCESSING)
    stuck.legs.update(status=LegStatus.FAILED, last_error="RECEIVE_DISABLED")
    paid_split(other_merchant, base=9999)
    # Noon of yesterday's local date: "now minus a day" lands two days back in the first hour of a day.
    noon_yesterday = datetime.combine(timezone.localdate() - timedelta(days=1), time(12))
    yesterday = paid_split(merchant, base=777, paid_at=timezone.make_aware(noon_yesterday))

    response = client_a.get(reverse("dashboard:report"))

    ctx = response.context
    assert ctx["totals"] == {"count": 2, "volume": 1600, "base": 1500, "tips": 100}
    assert ctx["payouts"]["paid_out"] == 1100 and ctx["payouts"]["open"] == 500
    assert "RECEIVE_DISABLED" in response.content.decode()
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert client_a.get(reverse("dashboard:report"), {"day": day}).context["totals"]["base"] == yesterday.base_amount
    assert client_a.get(reverse("dashboard:report"), {"day": "31/12"}).status_code == 400


def test_charts_draw_daily_volume_and_tips_by_staff(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    paid_split(merchant, staff=staff_a, tip=300)
    body = client_a.get(reverse("dashboard:charts")).content.decode()
    assert body.count('<svg class="bp-chart"') == 2
    assert "Dana · tips earned: 300 sats" in body
