"""The LNURL-pay client and the payout-invoice check against the fake's LUD-16 endpoints: custodial and
self-custodial Blink users, an outside address, and every misbehaviour of the outside host refused with
a clear reason and nothing paid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fakeblink import FakeBlink
from payments.lnurl.address import parse_address
from payments.lnurl.client import LnurlError, fetch_pay_params, request_invoice
from payments.lnurl.invoice_check import CheckedInvoice, InvoiceRefusal, check_payout_invoice
from payments.net.safe_http import SafeHttpPolicy
from payments.services.payout_invoices import payout_invoice_request
from payments.wallet.provider import reset_wallet_provider
from tests.lnurl_support import point_lnurl_at


@pytest.fixture
def world(settings: Any) -> Iterator[FakeBlink]:
    fake = FakeBlink(platform_api_key=settings.BLINK_API_KEY, seed=21, outside_lnurl=True).start()
    settings.BLINK_API_URL, settings.BLINK_WALLET_ID = fake.url, fake.platform_wallet_id
    point_lnurl_at(settings, fake)
    reset_wallet_provider()
    yield fake
    reset_wallet_provider()
    fake.stop()


def _policy(fake: FakeBlink) -> SafeHttpPolicy:
    assert fake.outside is not None
    return SafeHttpPolicy(allow_http_hosts=frozenset({fake.base_url.split("://")[1], fake.outside.domain}))


def _never_seen(_hash: str) -> bool:
    return False


def _fetch_and_check(fake: FakeBlink, address: str, sats: int, comment: str | None = None) -> CheckedInvoice:
    params = fetch_pay_params(parse_address(address), policy=_policy(fake))
    invoice = request_invoice(params, amount_msat=sats * 1000, comment=comment, policy=_policy(fake))
    checked = check_payout_invoice(
        invoice.payment_request, amount_msat=sats * 1000, metadata=params.metadata, hash_seen=_never_seen
    )
    assert isinstance(checked, CheckedInvoice), checked
    return checked


def test_custodial_self_custodial_and_outside_addresses(world: FakeBlink) -> None:
    assert world.outside is not None
    world.add_account("alice")
    world.add_account("sparky")
    world.migrate_to_self_custodial("sparky")
    outside = world.outside.add_user("olga")
    alice = _fetch_and_check(world, world.lightning_address("alice"), 1_500)
    assert world.invoice(alice.payment_hash) is not None  # a Blink invoice: pays intraledger
    sparky = _fetch_and_check(world, world.lightning_address("sparky"), 700)
    assert sparky.payee == world.lud16.spark.pubkey
    olga = _fetch_and_check(world, outside, 42)
    assert (olga.payee, olga.amount_sats) == (world.outside.node.pubkey, 42)


def test_comments_go_only_where_allowed_and_are_cut_to_the_limit(world: FakeBlink) -> None:
    assert world.outside is not None
    world.add_account("alice")  # Blink's addresses allow 200 characters
    quiet = world.outside.add_user("quiet", comment_allowed=0)
    chatty = world.outside.add_user("chatty", comment_allowed=5)
    _fetch_and_check(world, world.lightning_address("alice"), 10, comment="Thanks for the coffee")
    _fetch_and_check(world, quiet, 10, comment="not sent")
    _fetch_and_check(world, chatty, 10, comment="Thanks a lot")
    assert world.lud16.lud16.comments == [("alice", "Thanks for the coffee")]
    assert world.outside.lud16.comments == [("chatty", "Thank")]


def test_amounts_outside_the_address_limits_are_refused_before_asking(world: FakeBlink) -> None:
    world.add_account("alice")
    params = fetch_pay_params(parse_address(world.lightning_address("alice")), policy=_policy(world))
    with pytest.raises(LnurlError, match="amount_out_of_range"):
        request_invoice(params, amount_msat=params.max_sendable_msat + 1000, policy=_policy(world))


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("wrong_amount", "wrong_amount"),
        ("wrong_description_hash", "description_hash_mismatch"),
        ("expired_invoice", "expired"),
        ("oversized_json", "lnurl.fetch_failed.too_large"),
        ("malformed_json", "lnurl.malformed_json"),
        ("redirect", "lnurl.unsafe_url.cross_host_redirect"),
        ("private_callback", "lnurl.unsafe_url.private_address"),
        ("error", "lnurl.remote_error"),
    ],
)
@pytest.mark.django_db
def test_each_misbehaviour_is_refused_with_a_reason_and_nothing_is_paid(
    world: FakeBlink, behaviour: str, code: str
) -> None:
    assert world.outside is not None
    address = world.outside.add_user("mallory")
    world.outside.misbehave("mallory", [behaviour])
    before = world.balance(world.platform_wallet_id)
    try:
        params = fetch_pay_params(parse_address(address), policy=_policy(world))
    except LnurlError as exc:
        refusal = InvoiceRefusal(code=f"lnurl.{exc.code}", reason=exc.reason)
    else:
        result = payout_invoice_request(params=params, amount_sats=100)
        assert isinstance(result, InvoiceRefusal), result
        refusal = result
    assert refusal.code == code
    assert refusal.reason  # a sentence for the leg's last error and the operator
    assert world.balance(world.platform_wallet_id) == before
    assert world.ledger.external.received_msat == {}
    # The redirect and the private callback were never followed.
    assert all(r["operations"] == [] or "lnInvoicePaymentSend" not in r["operations"] for r in world.requests())
