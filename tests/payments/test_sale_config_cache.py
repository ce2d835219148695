"""The per-process copies of the create's configuration (payments/sale_config_cache.py), outside a
request: copies no two threads share, what is kept and what is read every time, and the generation a
copy needs to be used (the fast path's end-to-end tests: tests/payments/api/test_create_fast_cache.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from payments.crypto import encrypt_secret
from payments.models import Merchant, PlatformAccount, Staff
from payments.sale_config_cache import SaleConfigLookups
from tests.factories import MerchantFactory, SplitProfileShareFactory, StaffFactory, TerminalFactory

pytestmark = pytest.mark.django_db


def test_two_threads_sharing_the_cache_get_objects_of_their_own() -> None:
    share = SplitProfileShareFactory()
    profile = share.profile
    terminal = TerminalFactory(merchant=profile.merchant)
    kept = SaleConfigLookups("g1")
    assert kept.terminal_with_merchant(terminal_id=terminal.pk, merchant_id=profile.merchant_id) is not None
    assert kept.profile_with_shares(merchant_id=profile.merchant_id, profile_id=profile.pk) is not None
    seen: dict[str, Any] = {}
    first_done = threading.Event()

    def first() -> None:
        lookups = SaleConfigLookups("g1")
        mine = lookups.terminal_with_merchant(terminal_id=terminal.pk, merchant_id=profile.merchant_id)
        found = lookups.profile_with_shares(merchant_id=profile.merchant_id, profile_id=profile.pk)
        assert mine is not None and found is not None
        mine.name = "changed"
        mine.merchant.wallet_id = "changed"
        mine.merchant.tip_presets.append(99)
        found[1][0].staff.wallet_id = "changed"
        found[0].name = "changed"
        seen["first"] = (mine, found)
        first_done.set()

    def second() -> None:
        first_done.wait(5)
        lookups = SaleConfigLookups("g1")
        seen["second"] = (
            lookups.terminal_with_merchant(terminal_id=terminal.pk, merchant_id=profile.merchant_id),
            lookups.profile_with_shares(merchant_id=profile.merchant_id, profile_id=profile.pk),
        )

    # Every read in the threads is a hit: their own connections could not see this test's rows.
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    (mine, (_, shares_1)), (theirs, (profile_2, shares_2)) = seen["first"], seen["second"]
    assert theirs.name == terminal.name and theirs.merchant.wallet_id == profile.merchant.wallet_id
    assert theirs.merchant.tip_presets == [10, 15, 20]
    assert shares_2[0].staff.wallet_id == share.staff.wallet_id and profile_2.name == profile.name
    assert theirs is not mine and theirs.merchant is not mine.merchant and shares_2[0] is not shares_1[0]
    assert shares_2[0].profile is profile_2  # one profile object per copy, as the selector gives


def test_the_platform_account_is_read_for_every_sale() -> None:
    account = PlatformAccount.objects.create(name="second", api_key_encrypted=encrypt_secret("k"), wallet_id="w")
    terminal = TerminalFactory(merchant=MerchantFactory(platform_account=account))
    lookups = SaleConfigLookups("g1")

    def merchant() -> Merchant:
        found = lookups.terminal_with_merchant(terminal_id=terminal.pk, merchant_id=terminal.merchant_id)
        assert found is not None
        return found.merchant

    assert merchant().platform_account == account  # loaded on the copy ...
    PlatformAccount.objects.filter(pk=account.pk).update(is_active=False)  # ... and not kept
    with CaptureQueriesContext(connection) as queries:
        current = merchant().platform_account
    assert current is not None and current.is_active is False
    assert len(queries.captured_queries) == 1  # the account only: the terminal and merchant were kept


def test_a_terminal_of_another_merchant_is_read_every_time() -> None:
    terminal = TerminalFactory()
    other = MerchantFactory()
    lookups = SaleConfigLookups("g1")

    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            found = lookups.terminal_with_merchant(terminal_id=terminal.pk, merchant_id=other.pk)
        assert found is not None and found.merchant_id != other.pk and len(queries.captured_queries) == 1


def test_another_generation_reads_postgresql_again() -> None:
    staff = StaffFactory()
    assert SaleConfigLookups("g1").staff(merchant_id=staff.merchant_id, staff_id=staff.pk) is not None
    Staff.objects.filter(pk=staff.pk).update(is_active=False)

    assert SaleConfigLookups("g1").staff(merchant_id=staff.merchant_id, staff_id=staff.pk) is not None  # kept
    assert SaleConfigLookups("g2").staff(merchant_id=staff.merchant_id, staff_id=staff.pk) is None  # read again
