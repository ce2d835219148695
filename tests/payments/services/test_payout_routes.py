"""Payout routes: custodial first for Blink's own domains, LNURL otherwise or when no custodial wallet
exists; custodial never cached, LNURL cached briefly; unresolvable ones refused; and the setters of
destinations (service, API, dashboard) write nothing on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments.lnurl.invoice_check import CheckedInvoice
from payments.models import Merchant, PayoutRouteKind, Staff
from payments.services.payout_invoices import payment_hash_seen, payout_invoice_request
from payments.services.payout_routes import (
    PayoutDestination,
    RouteUnresolvable,
    payout_destination_parse,
    payout_route_resolve,
)
from payments.wallet.provider import reset_wallet_provider
from tests.factories import (
    MerchantFactory,
    PaymentLegFactory,
    PaymentSplitFactory,
    StaffFactory,
    TerminalFactory,
    UserFactory,
)
from tests.lnurl_support import point_lnurl_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings: Any) -> Iterator[FakeBlink]:
    fake = FakeBlink(platform_api_key=settings.BLINK_API_KEY, seed=9, outside_lnurl=True).start()
    settings.BLINK_API_URL, settings.BLINK_WALLET_ID = fake.url, fake.platform_wallet_id
    point_lnurl_at(settings, fake)
    reset_wallet_provider()
    yield fake
    reset_wallet_provider()
    fake.stop()


def _outside(world: FakeBlink) -> Any:
    assert world.outside is not None
    return world.outside


def test_custodial_first_and_never_cached_so_a_migration_flips_it(world: FakeBlink) -> None:
    wallet_id = world.add_account("alice")
    destination = PayoutDestination(blink_username="alice")
    route = payout_route_resolve(destination=destination)
    assert (route.kind, route.wallet_id, route.lnurl) == (PayoutRouteKind.CUSTODIAL, wallet_id, None)
    world.migrate_to_self_custodial("alice")
    route = payout_route_resolve(destination=destination)
    assert route.kind is PayoutRouteKind.LNURL and route.lnurl is not None
    assert route.lnurl.address == world.lightning_address("alice")
    assert route.custodial_refusal  # why the custodial wallet was skipped


def test_a_blink_domain_address_is_tried_custodially_first(world: FakeBlink) -> None:
    wallet_id = world.add_account("bob")
    destination = payout_destination_parse(world.lightning_address("bob"), field="payout_destination")
    assert destination.blink_username == "bob"
    assert payout_route_resolve(destination=destination).wallet_id == wallet_id


def test_an_outside_address_is_lnurl_and_cached_briefly_without_secrets(world: FakeBlink, settings: Any) -> None:
    address = _outside(world).add_user("olga")
    destination = PayoutDestination(lightning_address=address)
    route = payout_route_resolve(destination=destination)
    assert route.kind is PayoutRouteKind.LNURL and route.detail == f"{address} via 127.0.0.1"
    keys = list(get_redis_connection("default").scan_iter("lnurlp:*"))
    assert len(keys) == 1
    ttl = get_redis_connection("default").ttl(keys[0])
    assert 0 < ttl <= settings.LNURL_ROUTE_CACHE_SECONDS
    stored = get_redis_connection("default").get(keys[0]) or b""
    assert settings.BLINK_API_KEY.encode() not in stored
    # The cache answers while the host is away; the recipient check (use_cache=False) notices.
    _outside(world).misbehave("olga", ["error"])
    assert payout_route_resolve(destination=destination).kind is PayoutRouteKind.LNURL
    with pytest.raises(RouteUnresolvable, match="remote_error"):
        payout_route_resolve(destination=destination, use_cache=False)


def test_unresolvable_destinations_are_refused(world: FakeBlink) -> None:
    with pytest.raises(RouteUnresolvable) as gone:
        payout_route_resolve(destination=PayoutDestination(blink_username="nobody_here"))
    assert gone.value.reason.startswith("NOT_FOUND")
    with pytest.raises(RouteUnresolvable, match="unsafe_url"):
        payout_route_resolve(destination=PayoutDestination(lightning_address="x@10.0.0.1"))


@pytest.mark.parametrize("value", ["", "  ", "a@", "@b.com", "a@b", "a b@c.com", "ab", "x" * 60, "a@@b.com", None, 5])
def test_bad_destinations_name_the_field(value: object) -> None:
    with pytest.raises(Exception) as refused:
        payout_destination_parse(value, field="payout_destination")
    assert "payout_destination" in getattr(refused.value, "message_dict", {})


def test_a_payment_hash_on_another_leg_or_sale_is_seen(world: FakeBlink) -> None:
    address = _outside(world).add_user("olga")
    route = payout_route_resolve(destination=PayoutDestination(lightning_address=address))
    assert route.lnurl is not None
    checked = payout_invoice_request(params=route.lnurl, amount_sats=250, comment="tip")
    assert isinstance(checked, CheckedInvoice) and checked.amount_sats == 250
    assert not payment_hash_seen(checked.payment_hash)
    leg = PaymentLegFactory(payment_hash=checked.payment_hash)
    assert payment_hash_seen(checked.payment_hash)
    assert not payment_hash_seen(checked.payment_hash, leg_id=leg.pk)  # its own leg re-checking it
    assert payment_hash_seen(PaymentSplitFactory().payment_hash)


# --- setters: service, API, dashboard -----------------------------------------------------------


@pytest.fixture
def owner(world: FakeBlink) -> tuple[Merchant, Staff, Client]:
    merchant = MerchantFactory(user=UserFactory(), blink_username="cafe", wallet_id=world.add_account("cafe"))
    staff = StaffFactory(merchant=merchant, blink_username="dana", wallet_id=world.add_account("dana"))
    client = Client()
    client.force_login(merchant.user)
    return merchant, staff, client


def _put(client: Client, url: str, body: dict[str, Any], **extra: Any) -> Any:
    return client.put(url, data=json.dumps(body), content_type="application/json", **extra)


def _snapshot(*rows: Merchant | Staff) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        row.refresh_from_db()
        out.append((row.blink_username, row.lightning_address, row.wallet_id, row.payout_route))
    return out


@pytest.mark.parametrize(
    "value",
    ["not an address", "x@y", "someone@10.0.0.1", "ghost@127.0.0.1:1", "nobody_here", ""],
)
def test_api_refuses_bad_staff_destinations_naming_the_field(owner: tuple[Merchant, Staff, Client], value: str) -> None:
    merchant, staff, client = owner
    before = _snapshot(merchant, staff)
    response = _put(client, f"/api/v1/staff/{staff.pk}/payout-destination", {"payout_destination": value})
    assert response.status_code == 400, response.content
    assert "payout_destination" in response.json()["error"]["fields"]
    assert _snapshot(merchant, staff) == before


def test_api_changes_a_destination_and_shows_the_route(owner: tuple[Merchant, Staff, Client], world: FakeBlink) -> None:
    _, staff, client = owner
    address = _outside(world).add_user("dana_phoenix")
    response = _put(client, f"/api/v1/staff/{staff.pk}/payout-destination", {"payout_destination": address})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["lightning_address"], body["payout_route"]) == (address, "lnurl")
    assert body["payout_route_checked_at"] is not None
    listed = client.get("/api/v1/staff").json()
    assert listed[0]["payout"]["payout_route"] == "lnurl"
    staff.refresh_from_db()
    assert (staff.blink_username, staff.lightning_address) == ("", address)


def test_api_merchant_address_refused_or_set(owner: tuple[Merchant, Staff, Client], world: FakeBlink) -> None:
    merchant, staff, client = owner
    before = _snapshot(merchant, staff)
    bad = _put(client, "/api/v1/merchant/payout-destination", {"lightning_address": "plainusername"})
    assert bad.status_code == 400 and "lightning_address" in bad.json()["error"]["fields"]
    missing = _put(client, "/api/v1/merchant/payout-destination", {})
    assert missing.status_code == 400 and "lightning_address" in missing.json()["error"]["fields"]
    assert _snapshot(merchant, staff) == before
    address = _outside(world).add_user("cafe_node")
    ok = _put(client, "/api/v1/merchant/payout-destination", {"lightning_address": address})
    assert ok.status_code == 200 and ok.json()["payout_route"] == "lnurl"
    back = _put(client, "/api/v1/merchant/payout-destination", {"lightning_address": ""})
    assert back.status_code == 200 and back.json()["payout_route"] == "custodial"


def test_terminals_cannot_redirect_money_and_other_merchants_staff_are_not_found(
    owner: tuple[Merchant, Staff, Client], world: FakeBlink
) -> None:
    merchant, staff, client = owner
    terminal = TerminalFactory(merchant=merchant)
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {terminal.plain_key}"}
    address = _outside(world).add_user("thief")
    before = _snapshot(merchant, staff)
    denied = _put(Client(), f"/api/v1/staff/{staff.pk}/payout-destination", {"payout_destination": address}, **auth)
    assert denied.status_code == 403
    denied = _put(Client(), "/api/v1/merchant/payout-destination", {"lightning_address": address}, **auth)
    assert denied.status_code == 403
    stranger = StaffFactory(blink_username="stranger", wallet_id=world.add_account("stranger"))
    missing = _put(client, f"/api/v1/staff/{stranger.pk}/payout-destination", {"payout_destination": address})
    assert missing.status_code == 404
    assert _snapshot(merchant, staff, stranger)[:2] == before


def test_dashboard_refuses_bad_destinations_and_writes_nothing(owner: tuple[Merchant, Staff, Client]) -> None:
    merchant, staff, client = owner
    before = _snapshot(merchant, staff)
    add = client.post(reverse("dashboard:staff-add"), {"display_name": "Eve", "payout_destination": "eve@10.0.0.1"})
    assert add.status_code == 400 and "payout_destination" in add.context["staff_form"].errors
    assert not Staff.objects.filter(display_name="Eve").exists()
    change = client.post(reverse("dashboard:staff-payout", args=[staff.pk]), {"payout_destination": "a@b"})
    assert change.status_code == 400 and "payout_destination" in change.context["staff_payout_form"].errors
    mine = client.post(reverse("dashboard:merchant-payout"), {"lightning_address": "nobody@127.0.0.1:1"})
    assert mine.status_code == 400 and "lightning_address" in mine.context["merchant_payout_form"].errors
    assert _snapshot(merchant, staff) == before


def test_dashboard_adds_an_outside_address_and_shows_route_and_warning(
    owner: tuple[Merchant, Staff, Client], world: FakeBlink
) -> None:
    _, _, client = owner
    address = _outside(world).add_user("erin")
    added = client.post(reverse("dashboard:staff-add"), {"display_name": "Erin", "payout_destination": address})
    assert added.status_code == 302
    erin = Staff.objects.get(display_name="Erin")
    assert (erin.lightning_address, erin.payout_route, erin.wallet_id) == (address, "lnurl", "")
    page = client.get(reverse("dashboard:settings")).content.decode()
    assert address in page and "Lightning address (LNURL-pay)" in page
    Staff.objects.filter(pk=erin.pk).update(wallet_check_ok=False, wallet_check_error="lightning address gone")
    pos = client.get(reverse("dashboard:pos")).content.decode()
    assert 'id="payout-warning"' in pos and "Erin" in pos
    cache.clear()
