"""The dashboard's shifts pages: setup, clocking, corrections, the preview and the close; every bad
input a 4xx naming the field with nothing written; another merchant's shift a 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import (
    ClockCorrection,
    ClockEntry,
    Merchant,
    PoolRule,
    Shift,
    ShiftStatus,
    StaffRole,
    TerminalGroup,
    TipOut,
)
from payments.services.shifts import clock_in, clock_out
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(merchant: Merchant) -> TerminalGroup:
    return TerminalGroup.objects.create(merchant=merchant, name="Terrace")


def test_the_setup_forms_save_what_they_say(client_a: Client, merchant: Merchant, staff_a: object) -> None:
    terminal = TerminalFactory(merchant=merchant)

    # when
    client_a.post("/shifts/setup/mode/", {"tip_mode": "pooled", "method": "hours_role"})
    client_a.post("/shifts/setup/group/", {"name": "Bar"})
    client_a.post("/shifts/setup/role/", {"name": "kitchen", "weight": "150"})
    role = StaffRole.objects.get(merchant=merchant)
    group = TerminalGroup.objects.get(merchant=merchant)
    client_a.post("/shifts/setup/tip-out/", {"role_id": role.pk, "percent_bps": "1000"})
    client_a.post("/shifts/setup/terminal/", {"terminal_id": terminal.pk, "group_id": group.pk})
    client_a.post("/shifts/setup/staff-role/", {"staff_id": staff_a.pk, "role_id": role.pk})  # type: ignore[attr-defined]

    # then
    merchant.refresh_from_db()
    terminal.refresh_from_db()
    staff_a.refresh_from_db()  # type: ignore[attr-defined]
    assert merchant.tip_mode == "pooled"
    assert PoolRule.objects.get(merchant=merchant, group=None).method == "hours_role"
    assert role.weight == 150 and TipOut.objects.get(role=role).percent_bps == 1000
    assert terminal.group_id == group.pk and staff_a.role_id == role.pk  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("what", "body", "field"),
    [
        ("mode", {"tip_mode": "sometimes", "method": "hours"}, "tip_mode"),
        ("mode", {"tip_mode": "pooled", "method": "dice"}, "method"),
        ("group", {"name": ""}, "name"),
        ("role", {"name": "bar", "weight": "0"}, "weight"),
        ("role", {"name": "bar", "weight": "x"}, "weight"),
        ("tip-out", {"role_id": "999999", "percent_bps": "100"}, "role_id"),
        ("terminal", {"terminal_id": "abc"}, "terminal_id"),
        ("staff-role", {"staff_id": "999999"}, "staff_id"),
    ],
)
def test_bad_setup_input_names_the_field_and_writes_nothing(
    client_a: Client, merchant: Merchant, what: str, body: dict, field: str
) -> None:
    response = client_a.post(f"/shifts/setup/{what}/", body)

    assert response.status_code == 400
    assert field in response.context["errors"]
    merchant.refresh_from_db()
    assert merchant.tip_mode == "per_sale"
    assert not StaffRole.objects.exists() and not TerminalGroup.objects.exists() and not PoolRule.objects.exists()


def test_tip_outs_cannot_pass_the_whole_pool(client_a: Client, merchant: Merchant) -> None:
    a = StaffRole.objects.create(merchant=merchant, name="kitchen")
    b = StaffRole.objects.create(merchant=merchant, name="bar")
    client_a.post("/shifts/setup/tip-out/", {"role_id": a.pk, "percent_bps": "6000"})

    response = client_a.post("/shifts/setup/tip-out/", {"role_id": b.pk, "percent_bps": "5000"})

    assert response.status_code == 400 and "percent_bps" in response.context["errors"]
    assert TipOut.objects.count() == 1


def test_clock_in_and_out_from_the_dashboard(
    client_a: Client, merchant: Merchant, staff_a: object, group: TerminalGroup
) -> None:
    body = {"staff_id": staff_a.pk, "group_id": group.pk}  # type: ignore[attr-defined]

    client_a.post("/shifts/clock/", body)
    entry = ClockEntry.objects.get()
    listing = client_a.get("/shifts/")
    client_a.post("/shifts/clock/", body)

    assert entry.source == "dashboard" and entry.clock_out_at is None
    assert listing.status_code == 200 and b"Terrace" in listing.content
    entry.refresh_from_db()
    assert entry.clock_out_at is not None


@pytest.mark.parametrize(
    ("body", "field"), [({"staff_id": "x", "group_id": "1"}, "staff_id"), ({"staff_id": "1"}, "group_id")]
)
def test_bad_clock_input_is_refused(
    client_a: Client, group: TerminalGroup, staff_a: object, body: dict, field: str
) -> None:
    if field == "staff_id":
        body = {**body, "group_id": group.pk}

    response = client_a.post("/shifts/clock/", body)

    assert response.status_code == 400 and field in response.context["errors"]
    assert not ClockEntry.objects.exists() and not Shift.objects.exists()


def test_correct_preview_and_close(client_a: Client, merchant: Merchant, staff_a: object, group: TerminalGroup) -> None:
    # given: an entry of two hours
    result = clock_in(merchant=merchant, group=group, staff_id=staff_a.pk, source="dashboard")  # type: ignore[attr-defined]
    end = timezone.now() - timedelta(minutes=1)
    ClockEntry.objects.filter(pk=result.entry.pk).update(clock_in_at=end - timedelta(hours=2), clock_out_at=end)
    url = f"/shifts/{result.shift.pk}/"

    # when: a correction without a reason, then with one
    refused = client_a.post(
        url + "correct/",
        {"entry_id": result.entry.pk, "clock_in_at": (end - timedelta(hours=3)).isoformat(), "reason": ""},
    )
    corrected = client_a.post(
        url + "correct/",
        {
            "entry_id": result.entry.pk,
            "clock_in_at": (end - timedelta(hours=3)).isoformat(),
            "clock_out_at": end.isoformat(),
            "reason": "came early",
        },
    )
    page = client_a.get(url)
    stale = client_a.post(
        url + "close/", {"fingerprint": "not-the-review", "as_of": page.context["preview"].as_of.isoformat()}
    )
    reviewed = page.context["preview"]
    closed = client_a.post(url + "close/", {"fingerprint": reviewed.fingerprint, "as_of": reviewed.as_of.isoformat()})

    # then
    assert refused.status_code == 400 and "reason" in refused.context["errors"]
    assert corrected.status_code == 302 and ClockCorrection.objects.get().reason == "came early"
    assert page.context["preview"].people[0].worked_seconds == 3 * 3600
    assert stale.status_code == 409 and "fingerprint" in stale.context["errors"]
    assert closed.status_code == 302
    shift = Shift.objects.get()
    assert shift.status == ShiftStatus.SETTLED and shift.pool_sats == 0  # nothing pooled: nothing to pay


def test_another_merchants_shift_is_not_found(client_a: Client, other_merchant: Merchant, group: TerminalGroup) -> None:
    other_group = TerminalGroup.objects.create(merchant=other_merchant, name="Theirs")
    shift = Shift.objects.create(merchant=other_merchant, group=other_group, opened_at=timezone.now())

    assert client_a.get(f"/shifts/{shift.pk}/").status_code == 404
    assert client_a.post(f"/shifts/{shift.pk}/close/", {"fingerprint": "x"}).status_code == 404
    assert client_a.post(f"/shifts/{shift.pk}/correct/", {"entry_id": "1"}).status_code == 404
    shift.refresh_from_db()
    assert shift.status == ShiftStatus.OPEN


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clock_in_at": "yesterday-ish"}, "clock_in_at"),
        ({"clock_in_at": ""}, "clock_in_at"),
        ({"clock_in_at": "2999-01-01T10:00:00+00:00"}, "clock_in_at"),
        ({"clock_out_at": "2000-01-01T10:00:00+00:00"}, "clock_out_at"),
        ({"clock_out_at": "2999-01-01T10:00:00+00:00"}, "clock_out_at"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"entry_id": "abc"}, "entry_id"),
        ({"entry_id": "999999"}, "entry_id"),
    ],
)
def test_bad_corrections_name_the_field_and_write_nothing(
    client_a: Client, merchant: Merchant, staff_a: object, group: TerminalGroup, change: dict, field: str
) -> None:
    result = clock_in(merchant=merchant, group=group, staff_id=staff_a.pk, source="dashboard")  # type: ignore[attr-defined]
    end = timezone.now() - timedelta(minutes=5)
    ClockEntry.objects.filter(pk=result.entry.pk).update(clock_in_at=end - timedelta(hours=1), clock_out_at=end)
    body = {
        "entry_id": result.entry.pk,
        "clock_in_at": (end - timedelta(hours=2)).isoformat(),
        "clock_out_at": end.isoformat(),
        "reason": "fix",
        **change,
    }

    response = client_a.post(f"/shifts/{result.shift.pk}/correct/", body)

    assert response.status_code == 400 and field in response.context["errors"]
    assert not ClockCorrection.objects.exists()
    assert ClockEntry.objects.get().clock_in_at == end - timedelta(hours=1)


def test_a_failed_payout_shows_a_retry_that_reopens_it(
    client_a: Client, merchant: Merchant, other_merchant: Merchant, staff_a: object, group: TerminalGroup
) -> None:
    # given: a closed shift whose payout failed
    from payments.models import PoolAllocation, PoolPayout

    shift = Shift.objects.create(
        merchant=merchant,
        group=group,
        opened_at=timezone.now(),
        status="closed",
        closed_at=timezone.now(),
        pool_sats=90,
    )
    allocation = PoolAllocation.objects.create(shift=shift, staff=staff_a, share_sats=90, amount_sats=90)
    payout = PoolPayout.objects.create(
        allocation=allocation, shift=shift, staff=staff_a, external_id="x1", amount_sats=90, status="failed", failures=3
    )
    other_group = TerminalGroup.objects.create(merchant=other_merchant, name="Theirs")
    other_shift = Shift.objects.create(merchant=other_merchant, group=other_group, opened_at=timezone.now())
    theirs = PoolPayout.objects.create(shift=other_shift, external_id="x2", amount_sats=5, status="failed", failures=3)

    # when
    page = client_a.get(f"/shifts/{shift.pk}/")
    foreign = client_a.post(f"/shifts/payouts/{theirs.pk}/reopen/")
    reopened = client_a.post(f"/shifts/payouts/{payout.pk}/reopen/")

    # then
    assert page.status_code == 200 and b"Retry" in page.content and b"Dana" in page.content
    assert foreign.status_code == 404
    assert reopened.status_code == 302
    payout.refresh_from_db()
    theirs.refresh_from_db()
    assert payout.status == "planned" and payout.failures == 0
    assert theirs.status == "failed"


def test_the_review_warns_that_shares_of_people_still_clocked_in_move_until_the_confirmation(
    client_a: Client, merchant: Merchant, staff_a: object, group: TerminalGroup
) -> None:
    # given: a shift with someone still clocked in
    result = clock_in(merchant=merchant, group=group, staff_id=staff_a.pk, source="dashboard")  # type: ignore[attr-defined]
    url = f"/shifts/{result.shift.pk}/"

    # when: the merchant reviews it, then again once they clocked out
    open_page = client_a.get(url)
    clock_out(merchant=merchant, staff_id=staff_a.pk, source="dashboard")  # type: ignore[attr-defined]
    out_page = client_a.get(url)

    # then: only the first review says whose hours still run (the amounts shown are final in the second)
    assert open_page.status_code == 200 and 'id="still-clocked-in"' in open_page.content.decode()
    assert staff_a.display_name in open_page.context["still_in"]  # type: ignore[attr-defined]
    assert out_page.status_code == 200 and 'id="still-clocked-in"' not in out_page.content.decode()
