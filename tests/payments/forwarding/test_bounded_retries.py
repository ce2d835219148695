"""Nothing is retried forever, and nothing an operator does can pay twice: re-sends of a payment Blink
never received and lookups Blink cannot answer are capped, then the leg needs an operator (the split
is failed for the payout queue, an alert fires); a leg that cannot be retried does not freeze the
others; a leg in flight cannot be resolved by hand."""

from __future__ import annotations

import pytest
from django.test import override_settings

from analytics.services.metrics import alerts_evaluate, metrics_collect
from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.services.forwarding import forward_split
from payments.services.leg_outcomes import ForwardingError
from payments.services.operator_actions import forwarding_retry, leg_resolve
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, paid_split

pytestmark = pytest.mark.django_db


def _legs(split_id: int) -> list[PaymentLeg]:
    return list(PaymentLeg.objects.filter(split_id=split_id).order_by("pk"))


def _alerts() -> set[str]:
    return {alert.name for alert in alerts_evaluate(metrics_collect())}


def _passes(split: PaymentSplit, n: int) -> None:
    """What beat and the workers do, ``n`` times over: reconcile, then forward."""
    for _ in range(n):
        reconcile_once(lease_seconds=0, stale_seconds=0)
        forward_split(split_id=split.pk)


@override_settings(FORWARD_RETRY_BASE_SECONDS=0, FORWARD_MAX_ATTEMPTS=5)
def test_a_send_blink_never_receives_is_re_sent_a_bounded_number_of_times(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given a send mutation that answers HTTP 500 (before applying) every time
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["HTTP_500"] * 30)

    # when beat and the workers keep going for ten passes
    forward_split(split_id=split.pk)
    _passes(split, 10)

    # then the leg was sent FORWARD_MAX_ATTEMPTS times, never more, and waits for an operator
    split.refresh_from_db()
    (leg,) = _legs(split.pk)
    assert leg.attempts == 5
    assert leg.status == LegStatus.FAILED and leg.next_attempt_at is None and leg.last_error_code == "NOT_SENT"
    assert split.status == SplitStatus.FAILED and "Needs an operator" in split.error_message
    assert PaymentEvent.objects.filter(leg=leg, event_type="leg_sent").count() == 5
    assert fake_blink.debits_for(leg.payment_hash or "") == 0
    assert "payouts_need_operator" in _alerts()
    assert_money_invariants(fake_blink, [split.pk])

    # and once Blink is back, the operator's retry pays the same invoice once
    fake_blink.reset_scenarios()
    forwarding_retry(split_id=split.pk, actor="admin:ops")
    assert forward_split(split_id=split.pk) == "completed"
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED and fake_blink.debits_for(leg.payment_hash or "") == 1
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.parametrize("failure", ["HTTP_500", "NOT_AUTHORIZED"])
@override_settings(FORWARD_RETRY_BASE_SECONDS=0, FORWARD_LOOKUP_MAX_FAILURES=3)
def test_a_lookup_that_keeps_failing_hands_the_leg_to_an_operator_then_recovers(
    fake_blink: FakeBlink, make_split: MakeSplit, failure: str
) -> None:
    # given a send Blink applied but whose answer was lost, and lookups Blink does not answer
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY"])
    forward_split(split_id=split.pk)
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.UNKNOWN
    if failure == "NOT_AUTHORIZED":
        fake_blink.set_scopes(["RECEIVE"])  # a key that can no longer read the ledger
    else:
        fake_blink.script("me", ["HTTP_500"] * 20)

    # when the reconciler keeps trying
    _passes(split, 5)

    # then the leg is still unknown (never failed, never re-sent) but needs an operator, visibly
    split.refresh_from_db()
    leg.refresh_from_db()
    assert split.status == SplitStatus.FAILED and "LOOKUP_FAILED" in split.error_message
    assert leg.status == LegStatus.UNKNOWN and leg.attempts == 1 and leg.lookup_failures >= 3
    assert PaymentEvent.objects.filter(leg=leg, event_type="leg_needs_operator").count() == 1
    assert "payouts_need_operator" in _alerts()
    # and the operator cannot close it by hand while the send's outcome is unknown
    with pytest.raises(ForwardingError):
        leg_resolve(leg_id=leg.pk, note="paid by hand", actor="admin:ops")

    # when Blink answers lookups again, the leg settles from the ledger and the payment completes
    fake_blink.set_scopes(["READ", "RECEIVE", "WRITE"])
    fake_blink.reset_scenarios()
    PaymentLeg.objects.filter(pk=leg.pk).update(next_attempt_at=None)  # the hourly lookup is due
    reconcile_once(lease_seconds=0, stale_seconds=0)
    split.refresh_from_db()
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED and split.status == SplitStatus.COMPLETED
    assert fake_blink.debits_for(leg.payment_hash or "") == 1
    assert_money_invariants(fake_blink, [split.pk])


def test_a_platform_key_without_write_needs_an_operator_after_one_lookup(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given a platform key that lost its WRITE scope
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.set_scopes(["READ", "RECEIVE"])

    # when it forwards: Blink refuses the send (NOT_AUTHORIZED, a top-level error: unknown until looked up)
    forward_split(split_id=split.pk)
    (leg,) = _legs(split.pk)
    assert leg.status == LegStatus.UNKNOWN and leg.last_error_code == "NOT_AUTHORIZED"
    _passes(split, 3)

    # then the lookup confirms nothing was sent, and re-sending cannot help: an operator, at once
    split.refresh_from_db()
    leg.refresh_from_db()
    assert leg.attempts == 1
    assert leg.status == LegStatus.FAILED and leg.next_attempt_at is None and leg.last_error_code == "NOT_AUTHORIZED"
    assert split.status == SplitStatus.FAILED and "NOT_AUTHORIZED" in split.error_message
    assert "payouts_need_operator" in _alerts()

    # and after the key is fixed, the operator's retry pays once
    fake_blink.set_scopes(["READ", "RECEIVE", "WRITE"])
    forwarding_retry(split_id=split.pk, actor="admin:ops")
    assert forward_split(split_id=split.pk) == "completed"
    assert fake_blink.debits_for(leg.payment_hash or "") == 1
    assert_money_invariants(fake_blink, [split.pk])


@override_settings(FORWARD_RETRY_BASE_SECONDS=0)
def test_a_leg_that_cannot_be_retried_does_not_freeze_the_others(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a merchant leg whose first send fails (retryable) and a tip recipient who cannot receive
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    fake_blink.script("lnInvoicePaymentSend", ["LND_OFFLINE"])
    fake_blink.set_receive_disabled(parties.staff[0].blink_username)

    # when the first pass ends: the merchant leg has a retry to come, so the split keeps going
    assert forward_split(split_id=split.pk) == "in_progress"
    merchant, tip_a, tip_b = _legs(split.pk)
    assert merchant.status == LegStatus.FAILED and merchant.next_attempt_at is not None
    assert tip_a.status == LegStatus.FAILED and tip_a.next_attempt_at is None
    assert tip_b.status == LegStatus.SUCCEEDED

    # then the retry is made, and only then is the split handed to an operator, for tip_a alone
    assert forward_split(split_id=split.pk) == "failed"
    split.refresh_from_db()
    merchant.refresh_from_db()
    assert merchant.status == LegStatus.SUCCEEDED and fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert split.status == SplitStatus.FAILED
    assert f"leg {tip_a.pk}" in split.error_message and f"leg {merchant.pk}" not in split.error_message
    assert_money_invariants(fake_blink, [split.pk])


def test_an_operator_cannot_resolve_a_leg_in_flight(fake_blink: FakeBlink, make_split: MakeSplit, parties) -> None:
    # given two legs in flight: one unknown (applied, answer lost), one pending at Blink
    split = paid_split(fake_blink, make_split, tips=(100,))
    fake_blink.set_pending_polls(100)
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY", "PENDING_THEN_SUCCESS"])
    forward_split(split_id=split.pk)
    merchant, tip = _legs(split.pk)
    assert (merchant.status, tip.status) == (LegStatus.UNKNOWN, LegStatus.PENDING)

    # when an operator tries to close them by hand, it is refused: paying by hand could pay twice
    for leg in (merchant, tip):
        with pytest.raises(ForwardingError):
            leg_resolve(leg_id=leg.pk, note="paid by hand, ref 7", actor="admin:ops")
        leg.refresh_from_db()
        assert leg.status in (LegStatus.UNKNOWN, LegStatus.PENDING)
    assert not PaymentEvent.objects.filter(event_type="leg_resolved").exists()

    # then the ledger settles both, each paid once
    fake_blink.settle_pending(tip.payment_hash or "")
    reconcile_once(lease_seconds=0, stale_seconds=0)
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED
    assert_money_invariants(fake_blink, [split.pk])
