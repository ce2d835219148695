"""Payouts wherever the recipient's route says (issue 16 items 4-6): custodial Blink wallets,
self-custodial (migrated) Blink users and outside Lightning addresses, each paid exactly once; fees
out of the share or absorbed by the merchant, never out of the platform's pocket; refusals recorded
and never paid; a migrated recipient rerouted; PENDING-then-FAILURE re-planned with a new invoice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fakeblink import FakeBlink
from fakeblink.limits import LimitsConfig
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus, UnmatchedPayment
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.reconcile import reconcile_once
from payments.wallet.provider import get_wallet_provider, reset_wallet_provider
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory
from tests.lnurl_support import point_lnurl_at
from tests.payments.forwarding.conftest import (
    StartWorker,
    assert_money_invariants,
    committed_payout_hashes,
    split_status,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_blink(settings: Any) -> Iterator[FakeBlink]:
    """The forwarding tests' fake, with its outside LNURL host running and allowed."""
    fake = FakeBlink(
        platform_api_key=settings.BLINK_API_KEY,
        seed=16,
        pending_polls=1,
        limits=LimitsConfig.off(),
        outside_lnurl=True,
    ).start()
    settings.BLINK_API_URL, settings.BLINK_WALLET_ID = fake.url, fake.platform_wallet_id
    point_lnurl_at(settings, fake)
    reset_wallet_provider()
    yield fake
    reset_wallet_provider()
    fake.stop()


def _outside(fake: FakeBlink) -> Any:
    assert fake.outside is not None
    return fake.outside


def _received(fake: FakeBlink, receiver: str) -> int:
    return fake.ledger.external.received_msat.get(receiver, 0) // 1000


class World:
    def __init__(self, fake: FakeBlink, *, absorbs: bool = False) -> None:
        tag = uuid.uuid4().hex[:6]
        self.fake = fake
        m_user = f"shop_{tag}"
        self.merchant = MerchantFactory(
            blink_username=m_user, wallet_id=fake.add_account(m_user), absorbs_payout_fees=absorbs
        )
        self.carol_user = f"carol_{tag}"  # custodial Blink
        self.carol = StaffFactory(
            merchant=self.merchant, blink_username=self.carol_user, wallet_id=fake.add_account(self.carol_user)
        )
        self.sam_user = f"sam_{tag}"  # self-custodial Blink user: only their Blink Lightning address
        fake.add_account(self.sam_user)
        fake.migrate_to_self_custodial(self.sam_user)
        self.sam = StaffFactory(
            merchant=self.merchant,
            blink_username="",
            wallet_id="",
            lightning_address=fake.lightning_address(self.sam_user),
        )
        self.dave_name = f"dave{tag}"  # an outside wallet
        self.dave = StaffFactory(
            merchant=self.merchant,
            blink_username="",
            wallet_id="",
            lightning_address=_outside(fake).add_user(self.dave_name),
        )

    def split(self, *, base: int, tips: list[tuple[Any, int]]) -> PaymentSplit:
        total = base + sum(amount for _, amount in tips)
        external_id = uuid.uuid4().hex
        invoice = get_wallet_provider().create_invoice(
            amount_sats=total, memo="sale", expires_in_minutes=15, external_id=external_id
        )
        split = PaymentSplitFactory(
            merchant=self.merchant,
            payment_hash=invoice.payment_hash,
            external_id=external_id,
            base_amount=base,
            tip_amount=total - base,
            invoice_satoshis=total,
            payment_request=invoice.payment_request,
            expires_at=timezone.now() + timedelta(minutes=15),
        )
        if base:
            PaymentLegFactory(split=split, kind="merchant", amount=base)
        for staff, amount in tips:
            PaymentLegFactory(
                split=split,
                kind="tip",
                staff=staff,
                recipient_username=staff.blink_username or staff.lightning_address[:50],
                recipient_wallet_id=staff.wallet_id,
                amount=amount,
            )
        self.fake.pay_invoice_as_customer(split.payment_hash)
        assert payment_detected(payment_hash=split.payment_hash, amount_sats=total, source="test") == "paid"
        return split


def _legs(split: PaymentSplit) -> list[PaymentLeg]:
    return list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))


def _net_fee(leg: PaymentLeg) -> int:
    return (leg.fee_sats or 0) - (leg.fee_reimbursed_sats or 0)


def _check_three_kinds_paid(world: World, split: PaymentSplit, *, absorbs: bool) -> None:
    fake = world.fake
    merchant_leg, carol, sam, dave = _legs(split)
    assert [leg.status for leg in (merchant_leg, carol, sam, dave)] == [LegStatus.SUCCEEDED] * 4
    assert (carol.route_kind, sam.route_kind, dave.route_kind) == ("custodial", "lnurl", "lnurl")
    assert dave.route_address == world.dave.lightning_address and sam.route_address == world.sam.lightning_address
    # custodial: no fee, the whole share
    assert fake.balance(world.carol.wallet_id) == carol.amount and not carol.fee_sats
    for leg in (sam, dave):
        assert leg.fee_sats and leg.fee_sats > 0 and leg.fee_reimbursed_sats is not None
        assert leg.fee_sats <= (leg.fee_estimate_sats or 0)
        if absorbs:
            assert (leg.fee_payer, leg.payout_amount) == ("merchant", leg.amount)
        else:
            assert leg.fee_payer == "recipient"
            assert leg.payout_amount == leg.amount - (leg.fee_estimate_sats or 0) < leg.amount
    assert _received(fake, f"spark:{world.sam_user}") == sam.payout_amount
    assert _received(fake, f"outside:{world.dave_name}") == dave.payout_amount
    absorbed = _net_fee(sam) + _net_fee(dave) if absorbs else 0
    assert merchant_leg.payout_amount == merchant_leg.amount - absorbed
    assert fake.balance(world.merchant.wallet_id) == merchant_leg.amount - absorbed
    # what left the platform wallet never exceeds what the split received
    out = sum((leg.payout_amount or leg.amount) + _net_fee(leg) for leg in (merchant_leg, carol, sam, dave))
    assert out <= split.total_amount
    # each committed invoice's audit event names its route and fee split
    created = PaymentEvent.objects.filter(leg_id=dave.pk, event_type="leg_invoice_created").get()
    assert created.event_data["route"] == "lnurl" and created.event_data["address"] == world.dave.lightning_address
    assert created.event_data["payout_amount"] == dave.payout_amount
    assert_money_invariants(fake, [split.pk])


@pytest.mark.parametrize("absorbs", [False, True], ids=["recipient_pays_fee", "merchant_absorbs_fee"])
def test_custodial_self_custodial_and_outside_staff_paid_exactly_once(fake_blink: FakeBlink, absorbs: bool) -> None:
    world = World(fake_blink, absorbs=absorbs)
    before = fake_blink.balance(fake_blink.platform_wallet_id)
    split = world.split(base=2000, tips=[(world.carol, 300), (world.sam, 400), (world.dave, 500)])

    assert forward_split(split_id=split.pk) == "completed"
    assert forward_split(split_id=split.pk) == "already_completed"

    _check_three_kinds_paid(world, split, absorbs=absorbs)
    # the platform kept at least nothing of its own: its balance did not go below where it started
    assert fake_blink.balance(fake_blink.platform_wallet_id) >= before


def test_the_three_kinds_through_real_celery_workers(
    fake_blink: FakeBlink, start_worker: StartWorker, settings: Any
) -> None:
    world = World(fake_blink)
    split = world.split(base=1500, tips=[(world.carol, 200), (world.sam, 300), (world.dave, 400)])
    from payments.services.enqueue import enqueue_forward

    start_worker()
    start_worker()
    assert enqueue_forward(split.pk) and enqueue_forward(split.pk)
    assert wait_for(lambda: split_status(split.pk) == SplitStatus.COMPLETED, timeout=60)
    _check_three_kinds_paid(world, split, absorbs=False)


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        ("wrong_amount", "wrong_amount"),
        ("wrong_description_hash", "description_hash_mismatch"),
        ("expired_invoice", "expired"),
        ("oversized_json", "lnurl."),
        ("malformed_json", "lnurl.malformed_json"),
        ("redirect", "lnurl."),
        ("private_callback", "lnurl.unsafe_url"),
        ("error", "lnurl.remote_error"),
        ("unroutable_invoice", "ROUTE_UNAVAILABLE"),
    ],
)
def test_each_misbehaviour_of_the_outside_host_is_refused_and_nothing_paid(
    fake_blink: FakeBlink, settings: Any, behaviour: str, code: str
) -> None:
    settings.FORWARD_MAX_ATTEMPTS = 1  # a transient refusal goes to an operator at once here
    world = World(fake_blink)
    _outside(fake_blink).misbehave(world.dave_name, [behaviour])
    split = world.split(base=1000, tips=[(world.dave, 500)])

    assert forward_split(split_id=split.pk) == "failed"

    merchant_leg, dave = _legs(split)
    assert merchant_leg.status == LegStatus.SUCCEEDED
    assert dave.status == LegStatus.FAILED and dave.next_attempt_at is None
    assert dave.last_error_code.startswith(code), (dave.last_error_code, dave.last_error)
    assert dave.last_error  # a reason an operator can read
    assert not dave.payment_request and not dave.payment_hash
    assert not PaymentEvent.objects.filter(leg_id=dave.pk, event_type="leg_invoice_created").exists()
    assert _received(fake_blink, f"outside:{world.dave_name}") == 0
    split.refresh_from_db()
    assert split.status == SplitStatus.FAILED and f"leg {dave.pk}" in split.error_message
    assert_money_invariants(fake_blink, [split.pk])


def test_a_transient_refusal_is_retried_later_and_then_paid_once(fake_blink: FakeBlink, settings: Any) -> None:
    settings.FORWARD_RETRY_BASE_SECONDS = 0
    world = World(fake_blink)
    _outside(fake_blink).misbehave(world.dave_name, ["error"])
    split = world.split(base=1000, tips=[(world.dave, 500)])
    assert forward_split(split_id=split.pk) == "in_progress"
    dave = _legs(split)[1]
    assert dave.status == LegStatus.FAILED and dave.next_attempt_at is not None
    assert dave.last_error_code == "lnurl.remote_error"

    _outside(fake_blink).misbehave(world.dave_name, [])
    assert forward_split(split_id=split.pk) == "completed"
    assert _received(fake_blink, f"outside:{world.dave_name}") == _legs(split)[1].payout_amount
    assert_money_invariants(fake_blink, [split.pk])


def test_a_recipient_migrated_between_the_sale_and_its_forward_is_paid_through_lnurl(
    fake_blink: FakeBlink,
) -> None:
    world = World(fake_blink)
    split = world.split(base=1000, tips=[(world.carol, 600)])
    fake_blink.migrate_to_self_custodial(world.carol_user)  # after the sale pinned carol's wallet

    assert forward_split(split_id=split.pk) == "completed"

    carol = _legs(split)[1]
    assert carol.status == LegStatus.SUCCEEDED and carol.route_kind == "lnurl"
    assert carol.route_address == fake_blink.lightning_address(world.carol_user)
    assert _received(fake_blink, f"spark:{world.carol_user}") == carol.payout_amount
    assert_money_invariants(fake_blink, [split.pk])


def test_a_custodial_invoice_refused_at_send_for_a_migration_is_replaced_through_lnurl(
    fake_blink: FakeBlink,
) -> None:
    world = World(fake_blink)
    split = world.split(base=0, tips=[(world.carol, 600)])
    # the custodial invoice is committed, then the account migrates before the send
    fake_blink.set_latency("lnInvoicePaymentSend", 0)
    from payments.services import forwarding

    real_send = forwarding._leg_send

    def migrate_then_send(split_id: int, leg_id: int, **kwargs: Any) -> str:
        fake_blink.migrate_to_self_custodial(world.carol_user)
        forwarding._leg_send = real_send
        return real_send(split_id, leg_id, **kwargs)

    forwarding._leg_send = migrate_then_send
    try:
        assert forward_split(split_id=split.pk) == "completed"
    finally:
        forwarding._leg_send = real_send

    (carol,) = _legs(split)
    hashes = committed_payout_hashes(carol)
    assert len(hashes) == 2  # the custodial invoice (refused, never paid) and the LNURL one
    assert carol.route_kind == "lnurl" and carol.status == LegStatus.SUCCEEDED
    retry = PaymentEvent.objects.filter(leg_id=carol.pk, event_type="leg_retry").get()
    assert retry.event_data["reason"] == "recipient_migrated" and retry.event_data["same_invoice"] is False
    assert _received(fake_blink, f"spark:{world.carol_user}") == carol.payout_amount
    assert_money_invariants(fake_blink, [split.pk])


def test_pending_then_failure_on_an_outside_payout_is_replanned_with_a_new_invoice_and_paid_once(
    fake_blink: FakeBlink, settings: Any
) -> None:
    settings.FORWARD_RETRY_BASE_SECONDS = 0
    world = World(fake_blink)
    split = world.split(base=0, tips=[(world.dave, 700)])
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_FAILURE"])

    assert forward_split(split_id=split.pk) == "in_progress"
    (dave,) = _legs(split)
    first_hash = dave.payment_hash
    assert dave.status == LegStatus.PENDING

    for _ in range(6):
        reconcile_once(lease_seconds=0, stale_seconds=0)
        forward_split(split_id=split.pk)
        if split_status(split.pk) == SplitStatus.COMPLETED:
            break
    (dave,) = _legs(split)
    assert dave.status == LegStatus.SUCCEEDED and dave.payment_hash != first_hash
    assert committed_payout_hashes(dave) == {first_hash, dave.payment_hash}
    assert fake_blink.debits_for(dave.payment_hash or "") == 1
    assert _received(fake_blink, f"outside:{world.dave_name}") == dave.payout_amount
    assert_money_invariants(fake_blink, [split.pk], allow_refunds=True)


def test_a_fee_above_the_cap_waits_for_an_operator_with_nothing_paid(fake_blink: FakeBlink, settings: Any) -> None:
    settings.PAYOUT_FEE_CAP_BPS, settings.PAYOUT_FEE_CAP_SATS = 0, 1  # the fake's fee is at least 2 sats
    world = World(fake_blink)
    split = world.split(base=1000, tips=[(world.dave, 500), (world.carol, 100)])

    assert forward_split(split_id=split.pk) == "failed"

    merchant_leg, dave, carol = _legs(split)
    assert (merchant_leg.status, carol.status) == (LegStatus.SUCCEEDED, LegStatus.SUCCEEDED)
    assert dave.status == LegStatus.FAILED and dave.last_error_code == "FEE_OVER_CAP" and dave.next_attempt_at is None
    assert "above the cap 1" in dave.last_error
    assert _received(fake_blink, f"outside:{world.dave_name}") == 0
    assert_money_invariants(fake_blink, [split.pk])


def test_a_merchant_absorbing_fees_is_paid_last_and_waits_with_a_stuck_tip(
    fake_blink: FakeBlink, settings: Any
) -> None:
    settings.FORWARD_MAX_ATTEMPTS = 1
    world = World(fake_blink, absorbs=True)
    _outside(fake_blink).misbehave(world.dave_name, ["wrong_amount"])
    split = world.split(base=1000, tips=[(world.dave, 500)])

    assert forward_split(split_id=split.pk) == "failed"

    merchant_leg, dave = _legs(split)
    assert dave.status == LegStatus.FAILED and merchant_leg.status == LegStatus.PLANNED
    assert fake_blink.balance(world.merchant.wallet_id) == 0  # not paid before its fees are known
    assert_money_invariants(fake_blink, [split.pk])


def test_a_routing_fee_blink_returns_is_the_legs_money_not_an_unmatched_payment(fake_blink: FakeBlink) -> None:
    # given: an outside payout whose probed fee was partly returned to the platform wallet
    world = World(fake_blink)
    split = world.split(base=1000, tips=[(world.dave, 500)])
    assert forward_split(split_id=split.pk) == "completed"
    dave = _legs(split)[1]
    refunds = [
        t
        for t in fake_blink.transactions(fake_blink.platform_wallet_id)
        if t["payment_hash"] == dave.payment_hash and t["direction"] == "RECEIVE"
    ]
    assert refunds and dave.fee_reimbursed_sats == sum(t["amount"] for t in refunds)

    # when: that receipt reaches detection (its webhook, or the reconciler's history read)
    outcome = payment_detected(payment_hash=dave.payment_hash or "", amount_sats=refunds[0]["amount"], source="test")

    # then: it is recognised as the leg's returned fee, and nothing is left for an operator to chase
    assert outcome == "payout_refund"
    assert not UnmatchedPayment.objects.filter(payment_hash=dave.payment_hash).exists()
    # and a payment for a hash that is truly nobody's still is
    stranger = "ab" * 32
    assert payment_detected(payment_hash=stranger, amount_sats=21, source="test") == "unmatched"
    assert UnmatchedPayment.objects.filter(payment_hash=stranger, amount=21).exists()
