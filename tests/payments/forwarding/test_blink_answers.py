"""Blink's answers that are not what they seem: FAILURE "Invoice is already paid" once Blink's
5-minute payment flow expired, a send recorded in Blink's ledger and then answered with an error, and
a payout invoice Blink still considers payable although our own clock says it is nearly expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.services.forwarding import forward_split
from payments.services.operator_actions import leg_resolve
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, paid_split

pytestmark = pytest.mark.django_db


def _unknown_then_not_found(fake: FakeBlink, split: PaymentSplit) -> PaymentLeg:
    """A send whose request never got an answer and that Blink had not applied when we looked: the
    reconciler re-arms the leg to pay the same bolt11 again."""
    fake.script("lnInvoicePaymentSend", ["TIMEOUT"])
    forward_split(split_id=split.pk)
    reconcile_once(lease_seconds=0, stale_seconds=3600)
    (leg,) = PaymentLeg.objects.filter(split=split)
    assert leg.status == LegStatus.INVOICE_READY and fake.debits_for(leg.payment_hash or "") == 0
    return leg


def test_already_paid_failure_after_blinks_payment_flow_expired_is_settled_from_the_ledger(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given Blink's payment-flow cache, a leg re-armed after a lost request, and that first request
    # landing at Blink after all
    fake_blink.set_already_paid_flow(300)
    split = paid_split(fake_blink, make_split, tips=())
    leg = _unknown_then_not_found(fake_blink, split)
    platform = fake_blink.ledger.wallets[fake_blink.platform_wallet_id]
    fake_blink.ledger.pay_invoice(payer=platform, payment_request=leg.payment_request, memo=None)

    # when the re-send comes more than 5 minutes later: Blink answers FAILURE "Invoice is already paid"
    fake_blink.advance_clock(301)
    outcome = forward_split(split_id=split.pk)

    # then the ledger decides: succeeded, not failed; nothing for an operator to pay by hand
    leg.refresh_from_db()
    assert outcome == "completed" and leg.status == LegStatus.SUCCEEDED
    failures = PaymentEvent.objects.filter(leg=leg, event_type="leg_failed")
    assert [e.event_data["error_code"] for e in failures] == ["NOT_SENT"]  # the reconciler's, before the re-send
    assert PaymentEvent.objects.get(leg=leg, event_type="leg_succeeded").event_data["source"] == (
        "ledger_after_failure"
    )
    assert leg.preimage  # the ledger's proof of payment
    assert fake_blink.debits_for(leg.payment_hash or "") == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


def test_a_send_blink_records_and_then_answers_an_error_is_succeeded(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100,))
    fake_blink.script("lnInvoicePaymentSend", ["ERROR_AFTER_APPLY"])

    assert forward_split(split_id=split.pk) == "completed"

    merchant, tip = PaymentLeg.objects.filter(split=split).order_by("pk")
    assert merchant.status == tip.status == LegStatus.SUCCEEDED
    assert merchant.attempts == 1 and fake_blink.debits_for(merchant.payment_hash or "") == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


def test_a_failure_blink_cannot_confirm_is_unknown_not_failed(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    # given an explicit FAILURE answer and a ledger that cannot be read right then
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["ERROR_AFTER_APPLY"])
    fake_blink.script("me", ["HTTP_503"])

    forward_split(split_id=split.pk)

    # then it is not recorded as failed (that would invite a payment by hand) but looked up later
    (leg,) = PaymentLeg.objects.filter(split=split)
    assert leg.status == LegStatus.UNKNOWN
    reconcile_once(lease_seconds=0, stale_seconds=3600)
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED and fake_blink.debits_for(leg.payment_hash or "") == 1
    assert_money_invariants(fake_blink, [split.pk])


def test_a_payout_invoice_paid_by_someone_else_is_never_re_sent(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a re-armed leg whose payout invoice then gets paid from another wallet
    fake_blink.set_already_paid_flow(300)
    split = paid_split(fake_blink, make_split, tips=())
    leg = _unknown_then_not_found(fake_blink, split)
    fake_blink.pay_invoice_as_customer(leg.payment_hash or "")

    # when the re-send is answered "Invoice is already paid" and our ledger has no send
    forward_split(split_id=split.pk)
    reconcile_once(lease_seconds=0, stale_seconds=0)

    # then it is neither succeeded (we never paid) nor failed (paying it again would pay twice)
    split.refresh_from_db()
    leg.refresh_from_db()
    assert leg.status == LegStatus.UNKNOWN and leg.last_error_code == "INVOICE_PAID_NO_SEND"
    assert split.status == SplitStatus.FAILED and "INVOICE_PAID_NO_SEND" in split.error_message
    assert fake_blink.debits_for(leg.payment_hash or "") == 0
    # and its outcome is known, so an operator may close it
    leg_resolve(leg_id=leg.pk, note="paid from the merchant's own wallet, ref 9", actor="admin:ops")
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.parametrize("blink_says_expired", [False, True])
def test_a_new_payout_invoice_only_when_blink_says_the_old_one_expired(
    fake_blink: FakeBlink, make_split: MakeSplit, blink_says_expired: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a leg whose send never reached Blink, and our clock almost 24 h after its payout invoice
    # was committed (five minutes short of its 1440-minute lifetime)
    split = paid_split(fake_blink, make_split, tips=())
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT"])
    forward_split(split_id=split.pk)
    (leg,) = PaymentLeg.objects.filter(split=split)
    first_hash = leg.payment_hash
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=1435))  # our clock only
    if blink_says_expired:
        fake_blink.advance_clock(1441 * 60)

    # when the reconciler finds no send and re-arms the leg
    reconcile_once(lease_seconds=0, stale_seconds=3600)
    forward_split(split_id=split.pk)

    # then the same invoice is paid while Blink says it is payable; a new one only once Blink says EXPIRED
    leg.refresh_from_db()
    assert leg.status == LegStatus.SUCCEEDED
    assert (leg.payment_hash != first_hash) is blink_says_expired
    assert fake_blink.debits_for(first_hash or "") == (0 if blink_says_expired else 1)
    assert PaymentEvent.objects.filter(leg=leg, event_type="leg_invoice_created").count() == (
        2 if blink_says_expired else 1
    )
    assert_money_invariants(fake_blink, [split.pk])
