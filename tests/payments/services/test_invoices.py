"""invoice_create / invoice_cancel called directly, against the fake Blink: conservation with
remainders, merged recipients, refusals before the provider, provider failures and cancel paths."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments.metrics import latency_samples
from payments.models import PaymentEvent, PaymentSplit, SplitProfile, SplitStatus
from payments.selectors import split_profile_with_shares_for_merchant
from payments.services.invoice_cancel import InvoiceNotCancellable, invoice_cancel
from payments.services.invoices import invoice_create
from payments.services.parties import split_profile_save
from payments.services.pricing import ProviderUnavailable
from tests.factories import MerchantFactory, PaymentSplitFactory, StaffFactory

pytestmark = pytest.mark.django_db


def creates(fake: FakeBlink) -> int:
    return sum("lnInvoiceCreate" in r["operations"] for r in fake.requests())


@pytest.fixture
def merchant(fake_blink: FakeBlink):  # type: ignore[no-untyped-def]
    return MerchantFactory(blink_username="owner", wallet_id=fake_blink.add_account("owner"), display_currency="EUR")


def test_team_tip_remainder_goes_to_the_tip_recipients(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    staff = [StaffFactory(merchant=merchant, wallet_id=fake_blink.add_account(f"crew{i}")) for i in range(3)]
    profile = split_profile_save(
        merchant=merchant, name="Crew", shares=[(staff[0], 3333), (staff[1], 3333), (staff[2], 3334)]
    )
    split = invoice_create(merchant=merchant, terminal=None, amount_sats=5000, tip_sats=1001, split_profile=profile)
    legs = sorted((leg.kind, leg.amount) for leg in split.legs.all())
    # 1001 * 3333 / 10000 = 333.63 (twice), 1001 * 3334 / 10000 = 333.73: the 2 sats the floors leave
    # go to the largest remainders (the 3334 share, then the first 3333 share); the merchant gets the base
    assert legs == [("merchant", 5000), ("tip", 333), ("tip", 334), ("tip", 334)]
    assert sum(a for _, a in legs) == split.total_amount == 6001
    assert split.display_currency == "EUR" and split.sats_per_unit is not None


def test_staff_paid_to_the_merchants_own_wallet_is_one_transfer(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    owner_as_staff = StaffFactory(merchant=merchant, wallet_id=merchant.wallet_id, blink_username="owner")
    split = invoice_create(
        merchant=merchant, terminal=None, amount_sats=1000, tip_percent=Decimal("20"), staff=owner_as_staff
    )
    assert [(leg.kind, leg.amount) for leg in split.legs.all()] == [("merchant", 1200)]


def test_profile_with_a_deactivated_member_is_refused(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    a, b = StaffFactory(merchant=merchant), StaffFactory(merchant=merchant)
    profile = split_profile_save(merchant=merchant, name="Pair", shares=[(a, 5000), (b, 5000)])
    b.is_active = False
    b.save()
    with pytest.raises(ValidationError) as exc:
        invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_sats=10, split_profile=profile)
    assert "split_profile_id" in exc.value.message_dict
    assert creates(fake_blink) == 0 and PaymentSplit.objects.count() == 0


def test_provider_timeout_writes_nothing(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    fake_blink.script("lnInvoiceCreate", ["TIMEOUT"])
    with pytest.raises(ProviderUnavailable) as exc:
        invoice_create(merchant=merchant, terminal=None, amount_sats=1000)
    assert exc.value.retry_after >= 1
    assert PaymentSplit.objects.count() == 0 and PaymentEvent.objects.count() == 0
    assert list(get_redis_connection("hot").scan_iter("tip:*")) == []


def test_creation_latency_is_recorded(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    invoice_create(merchant=merchant, terminal=None, amount_sats=1000)
    with pytest.raises(ValidationError):
        invoice_create(merchant=merchant, terminal=None, amount_sats=0)
    assert len(latency_samples("create_invoice")) == 2


def test_cancel_still_cancels_locally_when_the_provider_is_down(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    split = invoice_create(merchant=merchant, terminal=None, amount_sats=1000)
    fake_blink.script("lnInvoiceCancel", ["HTTP_503"])
    cancelled = invoice_cancel(split=split)
    assert cancelled.status == SplitStatus.CANCELLED
    assert split.events.get(event_type="cancelled").event_data == {"cancelled_at_provider": False}


@pytest.mark.parametrize(
    "status", [SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.COMPLETED, SplitStatus.EXPIRED]
)
def test_only_pending_invoices_can_be_cancelled(fake_blink: FakeBlink, merchant, status: str) -> None:  # type: ignore[no-untyped-def]
    split = PaymentSplitFactory(merchant=merchant, status=status)
    with pytest.raises(InvoiceNotCancellable):
        invoice_cancel(split=split)
    split.refresh_from_db()
    assert split.status == status


# --- shares loaded by the API's one-query selector -----------------------------------------------


def test_preloaded_profile_shares_give_the_same_legs_without_reading_them_again(
    fake_blink: FakeBlink, merchant
) -> None:  # type: ignore[no-untyped-def]
    staff = [StaffFactory(merchant=merchant, wallet_id=fake_blink.add_account(f"mate{i}")) for i in range(3)]
    profile = split_profile_save(
        merchant=merchant, name="Mates", shares=[(staff[0], 5000), (staff[1], 3000), (staff[2], 2000)]
    )
    with CaptureQueriesContext(connection) as reads:
        found = split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=profile.pk)
        assert found is not None
        loaded_profile, shares = found
        assert [s.staff.wallet_id for s in shares] == [s.wallet_id for s in staff]  # staff already loaded
    assert len(reads.captured_queries) == 1
    with CaptureQueriesContext(connection) as during:
        split = invoice_create(
            merchant=merchant,
            terminal=None,
            amount_sats=1000,
            tip_sats=101,
            split_profile=loaded_profile,
            split_profile_shares=list(reversed(shares)),  # order does not matter: sorted by pk
        )
    assert not [q for q in during.captured_queries if "split_profile_shares" in q["sql"]]
    reference = invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_sats=101, split_profile=profile)
    legs = sorted((leg.kind, leg.recipient_wallet_id, leg.amount) for leg in split.legs.all())
    assert legs == sorted((leg.kind, leg.recipient_wallet_id, leg.amount) for leg in reference.legs.all())
    # 50.5 / 30.3 / 20.2: the sat the floors leave goes to the largest remainder, never the merchant
    assert legs == sorted([("merchant", merchant.wallet_id, 1000), *(
        ("tip", s.wallet_id, amount) for s, amount in zip(staff, (51, 30, 20), strict=True)
    )])  # fmt: skip


def test_shares_of_another_profile_are_refused_before_the_provider(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    a, b = StaffFactory(merchant=merchant), StaffFactory(merchant=merchant)
    first = split_profile_save(merchant=merchant, name="First", shares=[(a, 10000)])
    second = split_profile_save(merchant=merchant, name="Second", shares=[(b, 10000)])
    found = split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=second.pk)
    assert found is not None
    with pytest.raises(ValueError):
        invoice_create(
            merchant=merchant, terminal=None, amount_sats=1000, tip_sats=10, split_profile=first,
            split_profile_shares=found[1],
        )  # fmt: skip
    assert creates(fake_blink) == 0 and PaymentSplit.objects.count() == 0


def test_profile_selector_scopes_to_the_merchant_and_active_profiles(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    member = StaffFactory(merchant=merchant)
    profile = split_profile_save(merchant=merchant, name="Solo", shares=[(member, 10000)])
    other = MerchantFactory()
    assert split_profile_with_shares_for_merchant(merchant_id=other.pk, profile_id=profile.pk) is None
    assert split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=987654) is None
    SplitProfile.objects.filter(pk=profile.pk).update(is_active=False)
    assert split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=profile.pk) is None


def test_profile_without_members_is_found_and_refused_by_the_service(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    empty = SplitProfile.objects.create(merchant=merchant, name="Nobody")
    found = split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=empty.pk)
    assert found is not None and found[0].pk == empty.pk and found[1] == []
    with pytest.raises(ValidationError) as exc:
        invoice_create(
            merchant=merchant, terminal=None, amount_sats=1000, tip_sats=10, split_profile=found[0],
            split_profile_shares=found[1],
        )  # fmt: skip
    assert exc.value.message_dict == {"split_profile_id": ["This split profile has no members."]}
    assert creates(fake_blink) == 0


def test_address_only_staff_can_be_tipped_and_staff_paid_nowhere_cannot(fake_blink: FakeBlink, merchant) -> None:  # type: ignore[no-untyped-def]
    # two staff paid only at outside Lightning addresses (no Blink wallet), in one team
    a = StaffFactory(merchant=merchant, blink_username="", wallet_id="", lightning_address="ann@example.com")
    b = StaffFactory(merchant=merchant, blink_username="", wallet_id="", lightning_address="bo@example.org")
    profile = split_profile_save(merchant=merchant, name="Outside", shares=[(a, 5000), (b, 5000)])
    split = invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_sats=100, split_profile=profile)
    tips = sorted((leg.staff_id, leg.recipient_wallet_id, leg.amount) for leg in split.legs.filter(kind="tip"))
    assert tips == sorted([(a.pk, "", 50), (b.pk, "", 50)])
    # a member with neither a wallet nor an address is still refused (UNRESOLVED_STAFF)
    nowhere = StaffFactory(merchant=merchant, blink_username="legacy_x", wallet_id="", lightning_address="")
    with pytest.raises(ValidationError, match="not resolved"):
        invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_sats=100, staff=nowhere)
