"""The create's fast path keeps the terminal with its merchant and the tip's profile or staff member per
process (payments/sale_config_cache.py) under the sale-configuration generation its script read
(payments/sale_config.py): a repeated create skips those reads, and any committed change to them reaches
the very next create, with no waiting."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments import sale_config, sale_config_cache
from payments.models import Merchant, PaymentSplit, Staff
from payments.services.maintenance import recipients_check
from payments.services.parties import split_profile_save
from payments.services.terminals import terminal_revoke
from tests.factories import StaffFactory
from tests.payments.api.conftest import Shop
from tests.payments.api.test_create_fast import evals, remember
from tests.payments.api.test_invoice_create import COMMITS

URL = "/api/v1/invoices"
pytestmark = COMMITS  # the generation is set after the changes' commits
TEAM_SALE = {"amount_sats": 1000, "tip_percent": "10"}
PROFILE_READ = 'FROM "split_profile_shares"'
TERMINAL_READ = 'FROM "terminals" INNER JOIN "merchants"'


def create(api: Client, shop: Shop, **fields: Any) -> Any:
    body = {**TEAM_SALE, "split_profile_id": shop.team.pk, **fields}
    if "staff_id" in fields:
        body.pop("split_profile_id")
    return api.post(URL, data=json.dumps(body), content_type="application/json", **shop.auth)


def created(api: Client, shop: Shop, round_trips: list[bytes], **fields: Any) -> PaymentSplit:
    """A create answered by the fast path (201)."""
    round_trips.clear()
    response = create(api, shop, **fields)
    assert response.status_code == 201, response.content
    assert evals(round_trips) == 1  # the fast path's script: not the DRF view
    return PaymentSplit.objects.get(payment_hash=response.json()["payment_hash"])


def legs(split: PaymentSplit) -> dict[str, tuple[str, int]]:
    return {leg.recipient_username: (leg.recipient_wallet_id, leg.amount) for leg in split.legs.all()}


def generation() -> bytes | None:
    value: bytes | None = get_redis_connection("hot").get(sale_config.GENERATION_KEY)
    return value


@pytest.fixture
def warm(api: Client, shop: Shop, round_trips: list[bytes]) -> None:
    """The terminal remembered and a first fast create done: this process keeps its configuration."""
    assert generation() is not None  # the fixtures' rows set it when they committed
    remember(api, shop)
    created(api, shop, round_trips)


def test_a_second_create_skips_the_configuration_reads_and_answers_the_same(
    api: Client, shop: Shop, round_trips: list[bytes]
) -> None:
    remember(api, shop)
    with CaptureQueriesContext(connection) as first_queries:
        first = create(api, shop)
    with CaptureQueriesContext(connection) as second_queries:
        second = create(api, shop)

    first_sql = [q["sql"] for q in first_queries.captured_queries]
    second_sql = [q["sql"] for q in second_queries.captured_queries]
    assert first.status_code == second.status_code == 201
    assert any(PROFILE_READ in sql for sql in first_sql) and any(TERMINAL_READ in sql for sql in first_sql)
    assert not any(PROFILE_READ in sql or TERMINAL_READ in sql for sql in second_sql)
    assert len(second_sql) == len(first_sql) - 2
    # the same answer, for another invoice
    assert first.json().keys() == second.json().keys()
    ignore = {"payment_hash", "payment_request", "qr_svg_url", "created_at", "expires_at"}
    assert {k: v for k, v in first.json().items() if k not in ignore} == {
        k: v for k, v in second.json().items() if k not in ignore
    }
    splits = [PaymentSplit.objects.get(payment_hash=r.json()["payment_hash"]) for r in (first, second)]
    assert legs(splits[0]) == legs(splits[1]) and len(legs(splits[0])) == 3


def test_the_drf_view_reads_postgresql_every_time(api: Client, shop: Shop, settings: Any) -> None:
    settings.API_CREATE_FAST_PATH = False
    assert create(api, shop).status_code == 201
    with CaptureQueriesContext(connection) as queries:
        assert create(api, shop).status_code == 201
    assert any(PROFILE_READ in q["sql"] for q in queries.captured_queries)
    assert sale_config_cache._entries == {}


def test_a_merchant_wallet_change_reaches_the_next_create(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes], warm: None
) -> None:
    merchant = Merchant.objects.get(pk=shop.merchant.pk)
    merchant.wallet_id = fake_blink.add_account("shopa_new_wallet")
    merchant.save()

    split = created(api, shop, round_trips)

    assert legs(split)["shopa_owner"] == (merchant.wallet_id, 1000)
    assert split.user_wallet_id == merchant.wallet_id


def test_members_removed_from_and_added_to_a_profile_reach_the_next_create(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes], warm: None
) -> None:
    split_profile_save(merchant=shop.merchant, name="Floor", shares=[(shop.alice, 10_000)], profile=shop.team)
    alone = created(api, shop, round_trips)
    assert set(legs(alone)) == {"shopa_owner", "shopa_alice"} and legs(alone)["shopa_alice"][1] == 100

    carol = StaffFactory(
        merchant=shop.merchant, blink_username="shopa_carol", wallet_id=fake_blink.add_account("shopa_carol")
    )
    split_profile_save(
        merchant=shop.merchant, name="Floor", shares=[(shop.alice, 5000), (carol, 5000)], profile=shop.team
    )
    shared = created(api, shop, round_trips)
    assert {u: a for u, (_, a) in legs(shared).items()} == {"shopa_owner": 1000, "shopa_alice": 50, "shopa_carol": 50}


def test_a_staff_wallet_change_reaches_the_next_create(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes], warm: None
) -> None:
    created(api, shop, round_trips, staff_id=shop.alice.pk)  # kept too
    alice = Staff.objects.get(pk=shop.alice.pk)
    alice.wallet_id = fake_blink.add_account("shopa_alice_new")
    alice.save()

    for fields in ({"staff_id": alice.pk}, {}):  # alone, and through the team profile
        split = created(api, shop, round_trips, **fields)
        assert legs(split)["shopa_alice"][0] == alice.wallet_id


def test_a_deactivated_profile_is_refused_at_the_next_create(
    api: Client, shop: Shop, round_trips: list[bytes], warm: None
) -> None:
    shop.team.is_active = False
    shop.team.save()

    refused = create(api, shop)

    assert refused.status_code == 400
    assert "split_profile_id" in refused.json()["error"]["fields"]
    assert PaymentSplit.objects.count() == 1  # the warm-up's


def test_a_revoked_terminal_is_refused_at_the_next_create(
    api: Client, shop: Shop, round_trips: list[bytes], warm: None
) -> None:
    terminal_revoke(terminal=shop.terminal)

    refused = create(api, shop)

    assert refused.status_code == 401
    assert PaymentSplit.objects.count() == 1


def test_a_terminal_row_change_alone_reaches_the_next_create(
    api: Client, shop: Shop, round_trips: list[bytes], warm: None
) -> None:
    # The row revoked without the auth generation (the key is still remembered as valid): only the
    # sale-configuration generation tells the process its copy of the terminal is old.
    shop.terminal.revoked_at = timezone.now()
    shop.terminal.save(update_fields=["revoked_at"])

    round_trips.clear()
    refused = create(api, shop)

    assert evals(round_trips) == 1  # the fast path, with the terminal read again
    assert refused.status_code == 400 and "terminal" in refused.json()["error"]["fields"]


def test_the_recipients_check_update_reaches_the_next_create(
    api: Client, shop: Shop, round_trips: list[bytes], warm: None
) -> None:
    # given a member whose wallet was never resolved, refused while unresolved (that answer is a 400,
    # but the member's row is kept)
    Staff.objects.filter(pk=shop.alice.pk).update(wallet_id="")
    sale_config.bump()  # as an operator's edit would
    assert create(api, shop, staff_id=shop.alice.pk).status_code == 400
    before = generation()

    # when the beat's check resolves it (a queryset .update(): no save signal)
    result = recipients_check(staff_ids=[shop.alice.pk], merchant_ids=[])

    # then a new generation, and the next create pays her
    assert result.resolved == ["shopa_alice"]
    assert generation() not in (None, before)
    split = created(api, shop, round_trips, staff_id=shop.alice.pk)
    assert legs(split)["shopa_alice"][0] == Staff.objects.get(pk=shop.alice.pk).wallet_id != ""


def test_an_entry_is_kept_until_it_expires(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(sale_config_cache, "_now", lambda: now[0])
    remember(api, shop)
    first = created(api, shop, round_trips)
    # a change that sets no generation (a raw .update()): kept copies are used until they expire
    new_wallet = fake_blink.add_account("shopa_raw")
    Merchant.objects.filter(pk=shop.merchant.pk).update(wallet_id=new_wallet)

    now[0] += sale_config_cache.TTL_SECONDS - 0.5
    assert created(api, shop, round_trips).user_wallet_id == first.user_wallet_id
    now[0] += 1.0
    with CaptureQueriesContext(connection) as queries:
        reloaded = created(api, shop, round_trips)

    assert reloaded.user_wallet_id == new_wallet
    assert any(TERMINAL_READ in q["sql"] for q in queries.captured_queries)


def test_without_a_generation_nothing_is_kept_and_the_key_is_created(
    api: Client, shop: Shop, fake_blink: FakeBlink, round_trips: list[bytes]
) -> None:
    remember(api, shop)
    get_redis_connection("hot").delete(sale_config.GENERATION_KEY)

    first = created(api, shop, round_trips)

    assert sale_config_cache._entries == {}
    assert first.user_wallet_id == shop.merchant.wallet_id and len(legs(first)) == 3
    assert generation() is not None  # for the next create
    new_wallet = fake_blink.add_account("shopa_raw2")
    Merchant.objects.filter(pk=shop.merchant.pk).update(wallet_id=new_wallet)  # no generation set
    assert created(api, shop, round_trips).user_wallet_id == new_wallet  # read from PostgreSQL


def test_unknown_profiles_and_staff_are_never_kept(api: Client, shop: Shop, round_trips: list[bytes]) -> None:
    remember(api, shop)
    assert create(api, shop, split_profile_id=10**9).status_code == 400
    assert create(api, shop, staff_id=10**9).status_code == 400
    assert {kind for kind, _, _ in sale_config_cache._entries} == {"terminal"}
