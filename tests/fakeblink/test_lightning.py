"""The fake Blink and the outside world: real BOLT11 from simulated nodes, LUD-16 addresses for its
accounts (custodial and migrated to self-custodial), outside payments with fees, and the outside host."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator

import bolt11
import pytest
from bolt11.models.signature import Signature

from fakeblink import FakeBlink
from fakeblink.external import actual_fee, fee_estimate
from fakeblink.records import BlinkFailure
from payments.wallet import errors as e
from payments.wallet.client import BlinkClient
from payments.wallet.types import SendStatus
from tests.fakeblink.conftest import PLATFORM_KEY
from tests.standalone_blink import client_for


@pytest.fixture
def world() -> Iterator[FakeBlink]:
    fake = FakeBlink(platform_api_key=PLATFORM_KEY, seed=3, pending_polls=1, outside_lnurl=True)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def client(world: FakeBlink) -> Iterator[BlinkClient]:
    c = client_for(world)
    yield c
    c.close()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _lud16(fake_domain: str, name: str, amount_msat: int, **query: str) -> tuple[dict, str]:
    params = _get(f"http://{fake_domain}/.well-known/lnurlp/{name}")
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    answer = _get(f"{params['callback']}?amount={amount_msat}{extra}")
    return params, answer["pr"]


def _assert_signed_by(payment_request: str, pubkey: str) -> bolt11.Bolt11:
    decoded = bolt11.decode(payment_request)  # verifies the signature against the n (payee) field
    assert decoded.payee == pubkey
    signature = decoded.signature
    assert signature is not None
    # And independently: the key recovered from the signature is the node's.
    assert Signature(signature.hrp, signature.signing_data, signature.signature_data).recover_public_key() == pubkey
    assert decoded.payment_secret and decoded.features is not None
    return decoded


def test_every_invoice_the_fake_mints_decodes_and_is_signed_by_its_node(world: FakeBlink, client: BlinkClient) -> None:
    world.add_account("alice")
    world.add_account("sparky")
    world.migrate_to_self_custodial("sparky")
    assert world.outside is not None
    world.outside.add_user("olga")
    domain = world.base_url.split("://")[1]

    platform = client.create_invoice(amount_sats=1234, memo="Coffee", expires_in_minutes=15, external_id="s-1")
    decoded = _assert_signed_by(platform.payment_request, world.ledger.node.pubkey)
    assert (decoded.amount_msat, decoded.payment_hash, decoded.description) == (
        1_234_000,
        platform.payment_hash,
        "Coffee",
    )

    payout = client.create_invoice_for_recipient(
        recipient_wallet_id=world.wallets_of("alice")["BTC"], amount_sats=21, memo=None, external_id="leg-1"
    )
    assert _assert_signed_by(payout.payment_request, world.ledger.node.pubkey).description == ""

    for name, host, node in (
        ("alice", domain, world.ledger.node),
        ("sparky", domain, world.lud16.spark),
        ("olga", world.outside.domain, world.outside.node),
    ):
        params, pr = _lud16(host, name, 5_000)
        decoded = _assert_signed_by(pr, node.pubkey)
        assert decoded.amount_msat == 5_000
        # descriptionHash honoured: the invoice commits to the LNURL metadata (LUD-06).
        assert decoded.description_hash == hashlib.sha256(params["metadata"].encode()).hexdigest()
        assert json.loads(params["metadata"])[1] == ["text/identifier", f"{name}@{host}"]


def test_migration_takes_the_wallet_away_and_keeps_the_address(world: FakeBlink, client: BlinkClient) -> None:
    wallet_id = world.add_account("mover")
    old = client.create_invoice_for_recipient(recipient_wallet_id=wallet_id, amount_sats=50, memo=None, external_id="x")
    world.migrate_to_self_custodial("mover")
    with pytest.raises((e.RecipientNotFound, e.WrongCurrency)):
        client.resolve_username(username="mover")
    result = client.pay_invoice(payment_request=old.payment_request)
    assert (result.status, result.error_code) == (SendStatus.FAILED, "RECEIVE_DISABLED")
    params = _get(f"{world.base_url}/.well-known/lnurlp/mover")
    assert params["tag"] == "payRequest"


def test_an_account_in_wind_down_that_did_not_migrate_refuses_lnurl(world: FakeBlink) -> None:
    world.add_account("winding")
    world.set_receive_disabled("winding")
    assert _get(f"{world.base_url}/.well-known/lnurlp/winding")["status"] == "ERROR"


def test_outside_payment_charges_the_probed_fee_and_reimburses_the_unused_part(
    world: FakeBlink, client: BlinkClient
) -> None:
    assert world.outside is not None
    world.outside.add_user("olga")
    _, pr = _lud16(world.outside.domain, "olga", 10_000_000)  # 10 000 sats
    before = world.balance(world.platform_wallet_id)
    probe = client.fee_probe(payment_request=pr)
    assert probe.ok and probe.fee_sats == fee_estimate(10_000)
    result = client.pay_invoice(payment_request=pr)
    assert result.status is SendStatus.SUCCEEDED
    assert world.balance(world.platform_wallet_id) == before - 10_000 - actual_fee(probe.fee_sats or 0)
    assert world.ledger.external.received_msat == {"outside:olga": 10_000_000}
    # Blink's only idempotency for a bolt11 it already paid: no second debit.
    again = client.pay_invoice(payment_request=pr)
    assert again.already_paid and world.ledger.external.received_msat == {"outside:olga": 10_000_000}
    txs = [
        t for t in world.transactions(world.platform_wallet_id) if t["payment_hash"] == bolt11.decode(pr).payment_hash
    ]
    assert sorted((t["direction"], t["amount"], t["memo"]) for t in txs) == [
        ("RECEIVE", (probe.fee_sats or 0) - actual_fee(probe.fee_sats or 0), "fee reimbursement"),
        ("SEND", -10_000 - (probe.fee_sats or 0), None),
    ]


def test_intraledger_probe_is_free_and_unknown_invoices_find_no_route(world: FakeBlink, client: BlinkClient) -> None:
    world.add_account("alice")
    _, pr = _lud16(world.base_url.split("://")[1], "alice", 2_000)
    assert client.fee_probe(payment_request=pr).fee_sats == 0
    assert world.outside is not None
    world.outside.add_user("ghosty")
    world.outside.misbehave("ghosty", ["unroutable_invoice"])
    _, stray = _lud16(world.outside.domain, "ghosty", 2_000)
    probe = client.fee_probe(payment_request=stray)
    assert (probe.ok, probe.error_code) == (False, "ROUTE_FINDING_ERROR")
    before = world.balance(world.platform_wallet_id)
    result = client.pay_invoice(payment_request=stray)
    assert (result.status, result.error_code) == (SendStatus.FAILED, "ROUTE_FINDING_ERROR")
    assert world.balance(world.platform_wallet_id) == before


def test_an_outside_invoice_is_paid_only_in_a_spelling_that_decodes(world: FakeBlink) -> None:
    # The exact minted string skips the decode; any other spelling is still decoded: upper case is
    # BOLT11 too, surrounding spaces are not (bech32 refuses them) and find no route.
    assert world.outside is not None
    world.outside.add_user("olga")
    payer = world.ledger.wallets[world.platform_wallet_id]
    _, padded = _lud16(world.outside.domain, "olga", 2_000_000)
    before = world.balance(world.platform_wallet_id)
    with pytest.raises(BlinkFailure) as refused:
        world.ledger.pay_invoice(payer=payer, payment_request=f" {padded} ", memo=None)
    assert refused.value.code == "ROUTE_FINDING_ERROR" and world.balance(world.platform_wallet_id) == before
    _, pr = _lud16(world.outside.domain, "olga", 3_000_000)
    status, _tx = world.ledger.pay_invoice(payer=payer, payment_request=pr.upper(), memo=None)
    assert status == "SUCCESS" and world.ledger.external.received_msat == {"outside:olga": 3_000_000}


def test_pending_then_failure_returns_the_whole_debit(world: FakeBlink, client: BlinkClient) -> None:
    world.add_account("sparky")
    world.migrate_to_self_custodial("sparky")
    _, pr = _lud16(world.base_url.split("://")[1], "sparky", 3_000_000)
    before = world.balance(world.platform_wallet_id)
    world.script("lnInvoicePaymentSend", ["PENDING_THEN_FAILURE"])
    assert client.pay_invoice(payment_request=pr).status is SendStatus.PENDING
    payment_hash = bolt11.decode(pr).payment_hash
    assert client.payment_lookup(payment_hash=payment_hash).status is SendStatus.PENDING
    assert client.payment_lookup(payment_hash=payment_hash).status is SendStatus.FAILED
    assert world.balance(world.platform_wallet_id) == before
    assert world.ledger.external.received_msat == {}


def test_pending_then_success_settles_on_a_lookup(world: FakeBlink, client: BlinkClient) -> None:
    world.add_account("sparky")
    world.migrate_to_self_custodial("sparky")
    _, pr = _lud16(world.base_url.split("://")[1], "sparky", 3_000_000)
    world.script("lnInvoicePaymentSend", ["PENDING_THEN_SUCCESS"])
    assert client.pay_invoice(payment_request=pr).status is SendStatus.PENDING
    assert world.settle_pending(bolt11.decode(pr).payment_hash)
    assert world.ledger.external.received_msat == {"spark:sparky": 3_000_000}


def test_control_endpoints_migrate_and_script_the_outside_host(world: FakeBlink) -> None:
    world.add_account("remote")

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(
            f"{world.base_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    assert post("/control/migrate", {"username": "remote"})["address"].startswith("remote@127.0.0.1:")
    assert post("/control/outside/users", {"name": "Zed", "comment_allowed": 10})["address"].startswith("zed@")
    post("/control/outside/misbehave", {"name": "zed", "behaviours": ["error"]})
    assert world.outside is not None
    assert _get(f"http://{world.outside.domain}/.well-known/lnurlp/zed")["status"] == "ERROR"
    with pytest.raises(urllib.error.HTTPError):
        post("/control/outside/misbehave", {"name": "zed", "behaviours": ["explode"]})


def test_a_fee_reimbursement_is_not_read_as_a_refund_but_a_full_one_is(world: FakeBlink, client: BlinkClient) -> None:
    assert world.outside is not None
    world.outside.add_user("olga")
    _, paid = _lud16(world.outside.domain, "olga", 10_000_000)
    charged = client.pay_invoice(payment_request=paid).fee_sats or 0
    lookup = client.payment_lookup(payment_hash=bolt11.decode(paid).payment_hash)
    # Paid once: re-planning it as failed would pay the recipient twice. The fee is net of what came back.
    assert (lookup.status, lookup.fee_sats) == (SendStatus.SUCCEEDED, actual_fee(charged))
    _, refunded = _lud16(world.outside.domain, "olga", 10_000_000)
    world.script("lnInvoicePaymentSend", ["REIMBURSED_AFTER_SUCCESS"])
    assert client.pay_invoice(payment_request=refunded).status is SendStatus.SUCCEEDED
    assert client.payment_lookup(payment_hash=bolt11.decode(refunded).payment_hash).status is SendStatus.FAILED
