"""check_recipients against the fake Blink: wallets that no longer resolve are flagged, the provider
being away changes no flag."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from fakeblink import FakeBlink
from payments.models import Merchant, Staff
from payments.services.maintenance import recipients_check
from tests.factories import MerchantFactory, StaffFactory
from tests.payments.maintenance.conftest import run_concurrently

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def parties(blink: FakeBlink) -> dict[str, int]:
    merchant = MerchantFactory(blink_username="cafe", wallet_id=blink.add_account("cafe"))
    ok = StaffFactory(merchant=merchant, blink_username="alice", wallet_id=blink.add_account("alice"))
    gone = StaffFactory(merchant=merchant, blink_username="ghost")  # no such Blink account
    usd = StaffFactory(
        merchant=merchant, blink_username="dollar", wallet_id=blink.add_account("dollar", currencies=("USD",))
    )
    moved = StaffFactory(merchant=merchant, blink_username="mover", wallet_id="old-wallet-id")
    blink.add_account("mover")
    inactive = StaffFactory(merchant=merchant, blink_username="retired", is_active=False)
    return {
        "merchant": merchant.pk,
        "ok": ok.pk,
        "gone": gone.pk,
        "usd": usd.pk,
        "moved": moved.pk,
        "inactive": inactive.pk,
    }


def _flags() -> dict[str, tuple[bool, str]]:
    out = {f"staff:{s.blink_username}": (s.wallet_check_ok, s.wallet_check_error) for s in Staff.objects.all()}
    out.update(
        {f"merchant:{m.blink_username}": (m.wallet_check_ok, m.wallet_check_error) for m in Merchant.objects.all()}
    )
    return out


def test_flags_recipients_that_cannot_be_paid(parties: dict[str, int]) -> None:
    result = recipients_check()
    assert result.complete
    assert result.checked == 5  # the inactive staff member is not checked
    assert result.ok == 2
    flags = _flags()
    assert flags["merchant:cafe"] == (True, "")
    assert flags["staff:alice"] == (True, "")
    assert flags["staff:ghost"][0] is False and flags["staff:ghost"][1].startswith("NOT_FOUND")
    assert flags["staff:dollar"][0] is False
    assert flags["staff:mover"][0] is False and flags["staff:mover"][1].startswith("WALLET_CHANGED")
    assert flags["staff:retired"] == (True, "")
    assert Staff.objects.get(pk=parties["ok"]).wallet_checked_at is not None
    assert Staff.objects.get(pk=parties["inactive"]).wallet_checked_at is None


def test_receive_disabled_is_flagged(blink: FakeBlink) -> None:
    # In the wind-down and not migrated: no custodial wallet to pay, and the address refuses too.
    staff = StaffFactory(blink_username="windown", wallet_id=blink.add_account("windown"))
    blink.set_receive_disabled("windown")
    blink.script("accountDefaultWallet", ["RECEIVE_DISABLED"])
    recipients_check(staff_ids=[staff.pk], merchant_ids=[])
    staff.refresh_from_db()
    assert staff.wallet_check_ok is False
    assert staff.wallet_check_error.startswith("RECEIVE_DISABLED")
    assert "lightning address" in staff.wallet_check_error
    assert staff.payout_route == "" and staff.payout_route_checked_at is not None


def test_migrated_account_is_routed_through_its_lightning_address(blink: FakeBlink) -> None:
    # Migrated to self-custodial: the custodial wallet is gone, the address still resolves: no flag.
    staff = StaffFactory(blink_username="spark_user", wallet_id=blink.add_account("spark_user"))
    recipients_check(staff_ids=[staff.pk], merchant_ids=[])
    staff.refresh_from_db()
    assert (staff.payout_route, staff.payout_route_detail) == ("custodial", staff.wallet_id)
    blink.migrate_to_self_custodial("spark_user")
    recipients_check(staff_ids=[staff.pk], merchant_ids=[])
    staff.refresh_from_db()
    assert (staff.wallet_check_ok, staff.wallet_check_error) == (True, "")
    assert staff.payout_route == "lnurl"
    assert staff.payout_route_detail.startswith(f"spark_user@{blink.base_url.split('://')[1]} via ")
    assert staff.payout_route_checked_at is not None


def test_a_flag_clears_when_the_wallet_resolves_again(blink: FakeBlink) -> None:
    staff = StaffFactory(blink_username="back", wallet_check_ok=False, wallet_check_error="NOT_FOUND: gone")
    staff.wallet_id = blink.add_account("back")
    staff.save()
    recipients_check(staff_ids=[staff.pk], merchant_ids=[])
    staff.refresh_from_db()
    assert (staff.wallet_check_ok, staff.wallet_check_error) == (True, "")


def test_provider_unavailable_leaves_flags_unchanged_and_reports(parties: dict[str, int], blink: FakeBlink) -> None:
    Staff.objects.filter(pk=parties["ok"]).update(wallet_check_ok=False, wallet_check_error="earlier problem")
    before = _flags()
    blink.script("accountDefaultWallet", ["HTTP_503"] * 20)
    out = io.StringIO()
    with pytest.raises(CommandError, match="unavailable"):
        call_command("check_recipients", stdout=out)
    assert _flags() == before


def test_twice_and_concurrently_give_the_same_flags(parties: dict[str, int]) -> None:
    recipients_check()
    once = _flags()
    run_concurrently(recipients_check)
    assert _flags() == once


def test_command_lists_flagged_recipients(parties: dict[str, int]) -> None:
    out = io.StringIO()
    call_command("check_recipients", stdout=out)
    text = out.getvalue()
    assert "checked 5: ok 2, flagged 3" in text
    assert "staff @ghost: NOT_FOUND" in text
