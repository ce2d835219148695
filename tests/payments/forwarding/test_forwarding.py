"""Forwarding in-process against the fake Blink over real HTTP: the happy path and every provider
outcome the money rules name (timeouts after applying, PENDING, refunds, ALREADY_PAID, 5xx, garbage,
explicit failures, receive-disabled recipients), plus the operator actions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from django_redis import get_redis_connection

from fakeblink import FakeBlink
from payments import store
from payments.models import LegStatus, PaymentEvent, PaymentLeg, SplitStatus, TipRecipientStats
from payments.services.forwarding import forward_split
from payments.services.leg_outcomes import ForwardingError
from payments.services.operator_actions import forwarding_retry, leg_resolve
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import (
    MakeSplit,
    assert_money_invariants,
    committed_payout_hashes,
    net_debits,
    paid_split,
)

pytestmark = pytest.mark.django_db


def _legs(split_id: int) -> list[PaymentLeg]:
    return list(PaymentLeg.objects.filter(split_id=split_id).order_by("pk"))


def _events(split, event_type: str) -> int:
    return PaymentEvent.objects.filter(split_id=split.payment_hash, event_type=event_type).count()


def test_happy_path_forwards_each_leg_once_and_completes(fake_blink: FakeBlink, make_split: MakeSplit, parties) -> None:
    # given a paid split: 1000 to the merchant, 100 + 50 in tips
    split = paid_split(fake_blink, make_split)
    platform_before = fake_blink.balance(fake_blink.platform_wallet_id)

    # when
    assert forward_split(split_id=split.pk) == "completed"

    # then every recipient got exactly its share, once
    split.refresh_from_db()
    legs = _legs(split.pk)
    assert split.status == SplitStatus.COMPLETED and split.processed_at is not None
    assert [leg.status for leg in legs] == [LegStatus.SUCCEEDED] * 3
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert [fake_blink.balance(s.wallet_id) for s in parties.staff] == [100, 50]
    assert fake_blink.balance(fake_blink.platform_wallet_id) == platform_before - 1150
    assert split.user_payment_hash == legs[0].payment_hash
    assert split.tip_payment_hash == legs[1].payment_hash
    assert all(leg.preimage and leg.attempts == 1 for leg in legs)
    assert _events(split, "tip_sent") == 2
    stats = TipRecipientStats.objects.get(recipient_username=parties.staff[0].blink_username)
    assert (stats.total_tips_received, stats.total_tips_count, stats.average_tip_amount) == (100, 1, Decimal("100.00"))
    # the hot key is gone once the split is finished
    assert not get_redis_connection("hot").exists(store.tip_key(split.payment_hash))
    # a second run (duplicate task) does nothing
    assert forward_split(split_id=split.pk) == "already_completed"
    assert_money_invariants(fake_blink, [split.pk])


def test_timeout_after_apply_is_unknown_then_resolved_by_lookup(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY"])

    assert forward_split(split_id=split.pk) == "in_progress"
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.UNKNOWN  # not failed: Blink did apply it
    assert fake_blink.debits_for(leg.payment_hash) == 1

    counts = reconcile_once(lease_seconds=0, stale_seconds=0)
    assert counts["legs_succeeded"] == 1
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED and leg.attempts == 1
    assert_money_invariants(fake_blink, [split.pk])


def test_pending_three_times_then_success(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=(10,))
    fake_blink.set_pending_polls(3)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_SUCCESS"])

    forward_split(split_id=split.pk)
    legs = _legs(split.pk)
    assert [leg.status for leg in legs] == [LegStatus.PENDING, LegStatus.SUCCEEDED]
    for _ in range(3):
        reconcile_once(lease_seconds=0, stale_seconds=0)
        legs[0].refresh_from_db()
        assert legs[0].status == LegStatus.PENDING  # never re-sent while pending
    reconcile_once(lease_seconds=0, stale_seconds=0)
    legs[0].refresh_from_db()
    split.refresh_from_db()
    assert legs[0].status == LegStatus.SUCCEEDED and legs[0].attempts == 1
    assert split.status == SplitStatus.COMPLETED
    assert_money_invariants(fake_blink, [split.pk])


@override_settings(FORWARD_RETRY_BASE_SECONDS=0)
def test_pending_then_refund_fails_the_leg_and_the_retry_pays_once(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.set_pending_polls(0)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_FAILURE"])
    forward_split(split_id=split.pk)
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.PENDING

    reconcile_once(lease_seconds=0, stale_seconds=3600)  # lookup only; no re-enqueue yet
    leg.refresh_from_db()
    assert leg.status == LegStatus.FAILED and leg.next_attempt_at is not None
    assert fake_blink.balance(parties.merchant.wallet_id) == 0
    assert net_debits(fake_blink, leg.payment_hash) == 0  # the debit came back

    assert forward_split(split_id=split.pk) == "completed"
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED and leg.attempts == 2
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk], allow_refunds=True)


def test_already_paid_on_retry_after_a_late_in_flight_send(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a send whose request never got an answer and that Blink had not applied when we looked
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT"])
    forward_split(split_id=split.pk)
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.UNKNOWN and fake_blink.debits_for(leg.payment_hash) == 0
    reconcile_once(lease_seconds=0, stale_seconds=3600)
    leg.refresh_from_db()
    assert leg.status == LegStatus.INVOICE_READY  # not sent, invoice unpaid: same bolt11 again
    # when the first request lands at Blink after all (applied late) ...
    platform = fake_blink.ledger.wallets[fake_blink.platform_wallet_id]
    fake_blink.ledger.pay_invoice(payer=platform, payment_request=leg.payment_request, memo=None)
    # ... the retry pays the SAME invoice: ALREADY_PAID, no second debit
    assert forward_split(split_id=split.pk) == "completed"
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED
    assert PaymentEvent.objects.get(leg=leg, event_type="leg_succeeded").event_data["already_paid"] is True
    assert fake_blink.debits_for(leg.payment_hash) == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.parametrize("outcome", ["HTTP_500", "HTTP_500_AFTER_APPLY", "MALFORMED_JSON"])
def test_5xx_and_malformed_answers_are_unknown_never_failed(
    fake_blink: FakeBlink, make_split: MakeSplit, outcome: str
) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", [outcome])
    forward_split(split_id=split.pk)
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.UNKNOWN
    assert not PaymentEvent.objects.filter(leg=leg, event_type="leg_failed").exists()
    # the reconciler settles it: found (applied) -> succeeded; not found -> re-pay the same invoice
    for _ in range(2):
        reconcile_once(lease_seconds=0, stale_seconds=3600)
        forward_split(split_id=split.pk)
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED
    assert fake_blink.debits_for(leg.payment_hash) == 1
    assert_money_invariants(fake_blink, [split.pk])


@override_settings(FORWARD_RETRY_BASE_SECONDS=0)
def test_explicit_failure_is_retried_with_backoff_and_bounded(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["ROUTE_FINDING_ERROR"])
    assert forward_split(split_id=split.pk) == "in_progress"
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.FAILED and leg.last_error_code == "ROUTE_FINDING_ERROR"
    assert leg.next_attempt_at is not None
    assert forward_split(split_id=split.pk) == "completed"
    leg.refresh_from_db()
    assert leg.attempts == 2 and leg.status == LegStatus.SUCCEEDED

    # and it is bounded: five explicit failures leave it to an operator
    other = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["LND_OFFLINE"] * 5)
    outcomes = [forward_split(split_id=other.pk) for _ in range(5)]
    assert outcomes[-1] == "failed"
    (leg,) = _legs(other.pk)
    assert leg.attempts == 5 and leg.next_attempt_at is None
    assert fake_blink.debits_for(leg.payment_hash) == 0
    assert_money_invariants(fake_blink, [split.pk, other.pk])


def test_receive_disabled_fails_the_split_for_an_operator_then_retry_and_resolve(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    fake_blink.set_receive_disabled(parties.staff[0].blink_username)

    assert forward_split(split_id=split.pk) == "failed"
    split.refresh_from_db()
    merchant_leg, tip_a, tip_b = _legs(split.pk)
    assert split.status == SplitStatus.FAILED and "RECEIVE_DISABLED" in split.error_message
    assert tip_a.status == LegStatus.FAILED and tip_a.next_attempt_at is None
    assert merchant_leg.status == tip_b.status == LegStatus.SUCCEEDED
    assert fake_blink.debits_for(tip_a.payment_hash) == 0
    assert_money_invariants(fake_blink, [split.pk])  # nothing stuck: failed is visible, not processing

    # an operator retry after the recipient migrated pays the same invoice
    fake_blink.set_receive_disabled(parties.staff[0].blink_username, False)
    with pytest.raises(ForwardingError):
        leg_resolve(leg_id=tip_a.pk, note="  ", actor="admin:x")  # a note is required
    forwarding_retry(split_id=split.pk, actor="admin:ops")
    assert (
        PaymentEvent.objects.get(split_id=split.payment_hash, event_type="forwarding_retried").event_data["actor"]
        == "admin:ops"
    )
    assert forward_split(split_id=split.pk) == "completed"
    with pytest.raises(ForwardingError):
        forwarding_retry(split_id=split.pk, actor="admin:ops")
    assert_money_invariants(fake_blink, [split.pk])


def test_operator_resolves_the_last_failed_leg_and_the_payment_completes(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100,))
    fake_blink.set_receive_disabled(parties.staff[0].blink_username)
    assert forward_split(split_id=split.pk) == "failed"
    tip = _legs(split.pk)[1]

    leg_resolve(leg_id=tip.pk, note="Paid in cash, receipt 42", actor="admin:ops")

    split.refresh_from_db()
    tip.refresh_from_db()
    assert tip.status == LegStatus.RESOLVED and tip.resolution_note == "Paid in cash, receipt 42"
    event = PaymentEvent.objects.get(leg=tip, event_type="leg_resolved")
    assert event.event_data["actor"] == "admin:ops" and event.event_data["note"] == "Paid in cash, receipt 42"
    assert split.status == SplitStatus.COMPLETED
    with pytest.raises(ForwardingError):
        leg_resolve(leg_id=tip.pk, note="again", actor="admin:ops")
    assert not TipRecipientStats.objects.filter(recipient_username=parties.staff[0].blink_username).exists()
    assert_money_invariants(fake_blink, [split.pk])


def test_payout_invoice_created_before_a_crash_uses_the_next_external_id(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    (leg,) = _legs(split.pk)
    # Blink created the first payout invoice, but the worker died before committing it
    from payments.wallet.provider import get_wallet_provider

    orphan = get_wallet_provider().create_invoice_for_recipient(
        recipient_wallet_id=leg.recipient_wallet_id, amount_sats=leg.amount, memo="x", external_id=leg.external_id
    )
    assert forward_split(split_id=split.pk) == "completed"
    leg.refresh_from_db()
    assert leg.payment_hash != orphan.payment_hash
    created = PaymentEvent.objects.get(leg=leg, event_type="leg_invoice_created")
    assert created.event_data["external_id"] == f"{leg.external_id}-r1"
    assert fake_blink.invoice(orphan.payment_hash)["status"] == "PENDING"  # never paid
    assert_money_invariants(fake_blink, [split.pk])


def test_legs_that_do_not_sum_to_the_payment_are_held_for_an_operator(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100,))
    PaymentLeg.objects.filter(split=split, kind="tip").update(amount=99)
    assert forward_split(split_id=split.pk) == "failed"
    split.refresh_from_db()
    assert "1099" in split.error_message and "1100" in split.error_message
    assert fake_blink.debits_for(split.payment_hash) == 0
    assert all(leg.status == LegStatus.PLANNED for leg in _legs(split.pk))


def test_forward_refuses_splits_that_are_notpaid_split(make_split: MakeSplit) -> None:
    split = make_split()
    assert forward_split(split_id=split.pk) == "not_forwardable:pending"
    assert forward_split(split_id=10**9) == "missing"
    assert all(leg.status == LegStatus.PLANNED for leg in _legs(split.pk))


def test_a_replaced_payout_invoice_counts_once_and_paying_both_is_caught(
    fake_blink: FakeBlink, make_split: MakeSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a paid split whose only leg's first send failed explicitly
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["ROUTE_FINDING_ERROR"])
    assert forward_split(split_id=split.pk) == "in_progress"
    (leg,) = _legs(split.pk)
    old_hash = leg.payment_hash
    assert leg.status == LegStatus.FAILED and old_hash

    # when a day passes (both clocks), so the payout invoice expires and the retry replaces it
    later = timezone.now() + timedelta(days=1, minutes=5)
    monkeypatch.setattr(timezone, "now", lambda: later)
    fake_blink.advance_clock(timedelta(days=1, minutes=5).total_seconds())
    assert forward_split(split_id=split.pk) == "completed"

    # then the leg has two committed payout invoices, only the new one paid: one debit in all
    (leg,) = _legs(split.pk)
    assert leg.payment_hash != old_hash and fake_blink.invoice(old_hash)["status"] == "EXPIRED"
    assert committed_payout_hashes(leg) == {old_hash, leg.payment_hash}
    assert_money_invariants(fake_blink, [split.pk], reconcile=False)

    # and when the old invoice is paid as well (made payable again inside the fake, then paid from the
    # platform wallet: a double payment the leg's current hash alone does not show)
    with fake_blink.ledger.lock:
        old = fake_blink.ledger.invoices[old_hash]
        old.expires_at = fake_blink.now() + 3600
        platform = fake_blink.ledger.wallets[fake_blink.platform_wallet_id]
        assert fake_blink.ledger.pay_invoice(payer=platform, payment_request=old.payment_request, memo=None)[0] == (
            "SUCCESS"
        )
    assert fake_blink.debits_for(leg.payment_hash or "") == 1

    # then the invariants flag the leg
    with pytest.raises(AssertionError):
        assert_money_invariants(fake_blink, [split.pk], reconcile=False)
