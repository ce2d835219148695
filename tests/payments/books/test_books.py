"""Books reconciliation against the fake Blink over HTTP: a clean ledger agrees to the sat; a ledger with
one of each kind of difference reports exactly those (and the balance gap they make); re-runs keep one
row per difference; the checkpoint resumes where the last complete run stopped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import (
    BooksCheckpoint,
    BooksDifference,
    BooksRun,
    BooksTransaction,
    DifferenceKind,
    DifferenceStatus,
    LegStatus,
    PaymentEvent,
    PaymentLeg,
    PaymentSplit,
    Refund,
    SplitStatus,
    UnmatchedPayment,
)
from payments.services.books import BooksBusy, books_reconcile
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.reconcile import reconcile_once
from payments.services.refund_payouts import refund_pay, refund_payout_commit
from payments.services.refunds import RefundRequest, refund_create, refund_funding_check
from payments.wallet.errors import WalletUnavailable
from payments.wallet.provider import get_wallet_provider
from tests.payments.books.conftest import Sale
from tests.payments.forwarding.conftest import MakeSplit, Parties

pytestmark = pytest.mark.django_db

K = DifferenceKind
START = 100_000_000  # the fake platform wallet's opening balance (no transaction explains it)


def _platform_pays_outsider(fake: FakeBlink, amount: int) -> str:
    """A send from the platform wallet that BlinkPOS never made (someone with the key, by hand)."""
    outsider = fake.add_account("outsider")
    with fake.ledger.lock:
        invoice = fake.ledger.create_invoice(
            wallet=fake.ledger.wallets[outsider], amount=amount, memo=None, external_id=None, expires_in=60
        )
        platform = fake.ledger.wallets[fake.platform_wallet_id]
        status, tx = fake.ledger.pay_invoice(payer=platform, payment_request=invoice.payment_request, memo=None)
    assert status == "SUCCESS" and tx is not None
    return tx.id


def _customer_pays_platform_invoice_without_split(fake: FakeBlink, amount: int) -> str:
    with fake.ledger.lock:
        invoice = fake.ledger.create_invoice(
            wallet=fake.ledger.wallets[fake.platform_wallet_id],
            amount=amount,
            memo=None,
            external_id=None,
            expires_in=60,
        )
    fake.pay_invoice_as_customer(invoice.payment_hash)
    return invoice.payment_hash


def _pay_a_second_invoice_for(fake: FakeBlink, leg: PaymentLeg) -> str:
    """A second payout invoice committed for an already paid leg, and paid: a double payment."""
    with fake.ledger.lock:
        invoice = fake.ledger.create_invoice(
            wallet=fake.ledger.wallets[leg.recipient_wallet_id], amount=leg.amount, memo=None, external_id=None,
            expires_in=60,
        )  # fmt: skip
        platform = fake.ledger.wallets[fake.platform_wallet_id]
        assert fake.ledger.pay_invoice(payer=platform, payment_request=invoice.payment_request, memo=None)[0] == (
            "SUCCESS"
        )
    PaymentEvent.objects.create(
        split_id=leg.split.payment_hash,
        leg=leg,
        event_type="leg_invoice_created",
        event_data={"payout_hash": invoice.payment_hash, "external_id": "by-hand", "amount": leg.amount},
    )
    return invoice.payment_hash


def _open() -> dict[str, BooksDifference]:
    return {d.kind: d for d in BooksDifference.objects.filter(status=DifferenceStatus.OPEN)}


def test_a_clean_ledger_agrees_to_the_sat(fake_blink: FakeBlink, sale: Sale, parties: Parties) -> None:
    # given two sales paid by customers and forwarded to the merchant and staff
    first, second = sale(), sale(base=2_000, tips=(300,))

    # when the books run
    result = books_reconcile()

    # then nothing differs, and the balance is what we should hold, to the sat
    run = result.run
    assert result.ok and run.ok and run.status == "complete"
    assert result.findings == () and run.differences == 0 and BooksDifference.objects.count() == 0
    assert run.balance_actual == run.balance_expected == fake_blink.balance(fake_blink.platform_wallet_id)
    assert run.balance_parts == {
        "opening": START, "held": 0, "received": 1_150 + 2_300, "unmatched": 0, "forwarded": 1_150 + 2_300,
        "fees": 0, "sent_for_legs_not_succeeded": 0,
        "refunds_funded": 0, "refunds_paid_out": 0, "sent_for_refunds_not_paid": 0,
        "pool_paid_out": 0, "sent_for_pool_payouts_not_paid": 0, "pooled_tips_waiting": 0,
    }  # fmt: skip
    # and every Blink transaction is matched: each receive to its split, each send to its leg
    assert (run.transactions_walked, run.receives, run.sends) == (7, 2, 5)
    assert (run.received_sats, run.sent_sats, run.fees_sats) == (3_450, 3_450, 0)
    mirrored = BooksTransaction.objects.all()
    assert {tx.split_id for tx in mirrored if tx.direction == "RECEIVE"} == {first.pk, second.pk}
    assert {tx.leg_id for tx in mirrored if tx.direction == "SEND"} == set(
        PaymentLeg.objects.values_list("pk", flat=True)
    )
    # and the checkpoint is the newest transaction
    assert BooksCheckpoint.objects.get().tx_id == run.newest_tx_id == run.checkpoint_tx_id
    assert BooksCheckpoint.objects.get().opening_balance_sats == START


def test_one_of_each_kind_of_difference_is_reported_exactly(
    fake_blink: FakeBlink, sale: Sale, make_split: MakeSplit, parties: Parties
) -> None:
    # given a clean history first
    sale()
    # and money received for no split
    stray_hash = _customer_pays_platform_invoice_without_split(fake_blink, 777)
    # and a split a customer paid that we never detected (still pending)
    undetected = make_split(base=400, tips=())
    fake_blink.pay_invoice_as_customer(undetected.payment_hash)
    # and a split we marked paid that nobody paid
    phantom = make_split(base=900, tips=())
    PaymentSplit.objects.filter(pk=phantom.pk).update(
        status=SplitStatus.PAID, paid_at=timezone.now() - timedelta(minutes=5), received_amount=900
    )
    # and a send from the platform wallet that is none of ours
    stray_send = _platform_pays_outsider(fake_blink, 250)
    # and a leg Blink reported SUCCESS for and then reimbursed (Blink #4022): succeeded here, not there
    fake_blink.script("lnInvoicePaymentSend", ["REIMBURSED_AFTER_SUCCESS"])
    reimbursed = sale(base=600, tips=())
    (reimbursed_leg,) = reimbursed.legs.all()
    # and a leg paid a second time through another committed invoice
    twice = sale(base=300, tips=())
    (twice_leg,) = twice.legs.all()
    _pay_a_second_invoice_for(fake_blink, twice_leg)
    # and a leg Blink paid that we think failed, and one whose fee we recorded wrong
    unrecorded = sale(base=200, tips=(20,))
    unrecorded_leg = unrecorded.legs.get(kind="tip")
    PaymentLeg.objects.filter(pk=unrecorded_leg.pk).update(status=LegStatus.FAILED)
    fee_leg = unrecorded.legs.get(kind="merchant")
    PaymentLeg.objects.filter(pk=fee_leg.pk).update(fee_sats=3)

    # when the books run
    result = books_reconcile()

    # then exactly one difference of each kind is reported, each pointing at what it is about
    assert sorted(f.kind for f in result.findings) == sorted(K.values)
    found = _open()
    assert found[K.RECEIVED_WITHOUT_SPLIT].payment_hash == stray_hash
    assert (found[K.RECEIVED_WITHOUT_SPLIT].expected_sats, found[K.RECEIVED_WITHOUT_SPLIT].actual_sats) == (0, 777)
    assert found[K.SPLIT_UNPAID_BUT_PAID].split_id == undetected.pk
    assert found[K.SPLIT_UNPAID_BUT_PAID].actual_sats == 400
    assert (found[K.SPLIT_PAID_NOT_RECEIVED].split_id, found[K.SPLIT_PAID_NOT_RECEIVED].expected_sats) == (
        phantom.pk,
        900,
    )
    assert (found[K.UNKNOWN_SEND].blink_tx_id, found[K.UNKNOWN_SEND].actual_sats) == (stray_send, 250)
    assert found[K.LEG_NOT_AT_BLINK].leg_id == reimbursed_leg.pk
    assert (found[K.LEG_NOT_AT_BLINK].expected_sats, found[K.LEG_NOT_AT_BLINK].actual_sats) == (600, 0)
    assert (found[K.LEG_PAID_TWICE].leg_id, found[K.LEG_PAID_TWICE].actual_sats) == (twice_leg.pk, 600)
    assert (found[K.LEG_PAID_NOT_RECORDED].leg_id, found[K.LEG_PAID_NOT_RECORDED].actual_sats) == (
        unrecorded_leg.pk,
        20,
    )
    assert (found[K.FEE_MISMATCH].leg_id, found[K.FEE_MISMATCH].expected_sats, found[K.FEE_MISMATCH].actual_sats) == (
        fee_leg.pk,
        3,
        0,
    )
    # and the stray receipt is now in the operators' unmatched-payments queue
    assert UnmatchedPayment.objects.get(payment_hash=stray_hash).amount == 777
    # and the balance gap is exactly what those differences make, to the sat: the undetected payment
    # (+400) and the reimbursed leg (+600) are money we hold without knowing, the phantom split (-900),
    # the stray send (-250) and the second payment (-300) are money we think we hold; the wrong fee
    # makes our books 3 sats short (+3); the stray receipt is recorded as unmatched (0), and the leg
    # we think failed is counted as sent (0)
    run = result.run
    assert run.balance_actual == fake_blink.balance(fake_blink.platform_wallet_id)
    assert run.balance_actual - run.balance_expected == 400 + 600 - 900 - 250 - 300 + 3
    assert found[K.BALANCE_MISMATCH].delta_sats == 400 + 600 - 900 - 250 - 300 + 3
    assert not run.ok and run.differences == len(K.values) and run.by_kind == dict.fromkeys(K.values, 1)


def test_a_rerun_keeps_one_row_per_difference_and_closes_what_was_fixed(
    fake_blink: FakeBlink, make_split: MakeSplit, sale: Sale
) -> None:
    # given a split paid at Blink that we never detected
    sale()
    undetected = make_split(base=400, tips=())
    fake_blink.pay_invoice_as_customer(undetected.payment_hash)
    first = books_reconcile().run

    # when the books run again with nothing changed
    second = books_reconcile().run

    # then the same two differences (the split, and the balance it throws off) are reported, one row each
    assert first.differences == second.differences == 2
    assert BooksDifference.objects.count() == 2 and second.new_differences == 0
    row = BooksDifference.objects.get(kind=K.SPLIT_UNPAID_BUT_PAID)
    assert (row.first_run_id, row.last_run_id, row.status) == (first.pk, second.pk, DifferenceStatus.OPEN)

    # and when the payment is detected and forwarded, the next run closes both and is clean
    assert payment_detected(payment_hash=undetected.payment_hash, amount_sats=400, source="test") == "paid"
    assert forward_split(split_id=undetected.pk) == "completed"
    third = books_reconcile()
    assert third.ok and third.run.closed_differences == 2
    assert set(BooksDifference.objects.values_list("status", "closed_run_id")) == {
        (DifferenceStatus.CLOSED, third.run.pk)
    }


def test_the_checkpoint_resumes_where_the_last_complete_run_stopped(fake_blink: FakeBlink, sale: Sale) -> None:
    # given a complete run over one forwarded sale (1 receive + 3 sends)
    sale()
    first = books_reconcile().run
    assert first.transactions_walked == 4 and first.from_checkpoint_tx_id == ""

    # when another sale happens and a run fails half way (Blink unavailable)
    sale(base=500, tips=(50,))
    fake_blink.script("me", ["HTTP_503"])
    with pytest.raises(WalletUnavailable):
        books_reconcile()

    # then the failed run is recorded and the checkpoint did not move
    failed = BooksRun.objects.get(status="failed")
    assert failed.ok is False and "WalletUnavailable" in failed.error
    assert BooksCheckpoint.objects.get().tx_id == first.checkpoint_tx_id

    # and the next run walks only what is new since the first run (1 receive + 2 sends), clean
    third = books_reconcile()
    assert third.ok
    assert third.run.from_checkpoint_tx_id == first.checkpoint_tx_id
    assert third.run.transactions_walked == 3 and (third.run.receives, third.run.sends) == (1, 2)
    assert BooksTransaction.objects.count() == 7
    # and a run with nothing new walks nothing
    assert books_reconcile().run.transactions_walked == 0


def test_a_pending_send_keeps_the_checkpoint_below_it_until_it_settles(
    fake_blink: FakeBlink, sale: Sale, make_split: MakeSplit
) -> None:
    # given a sale whose only leg's send is still PENDING at Blink, and a later clean sale
    fake_blink.set_pending_polls(100)
    fake_blink.script("lnInvoicePaymentSend", ["PENDING_THEN_SUCCESS"])
    split = make_split(base=700, tips=())
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    payment_detected(payment_hash=split.payment_hash, amount_sats=700, source="test")
    assert forward_split(split_id=split.pk) == "in_progress"
    (leg,) = split.legs.all()
    sale(base=100, tips=())

    # when the books run
    first = books_reconcile().run

    # then the pending send is counted as sent for its in-flight leg (no balance difference) and the
    # checkpoint stays at the receipt just older than it, so the next run walks it again
    assert first.ok, first.by_kind
    pending_tx = BooksTransaction.objects.get(leg_id=leg.pk)
    assert pending_tx.status == "PENDING"
    customer_receipt = BooksTransaction.objects.get(split_id=split.pk)
    assert first.checkpoint_tx_id == customer_receipt.blink_id

    # and once it settles and our leg is resolved by the lookup, the next run re-walks it and moves on
    fake_blink.settle_pending(leg.payment_hash or "")
    reconcile_once(lease_seconds=0, stale_seconds=0)
    second = books_reconcile()
    assert second.ok, second.run.by_kind
    assert second.run.from_checkpoint_tx_id == customer_receipt.blink_id
    assert BooksTransaction.objects.get(leg_id=leg.pk).status == "SUCCESS"
    assert second.run.checkpoint_tx_id == second.run.newest_tx_id


def test_one_run_at_a_time(fake_blink: FakeBlink) -> None:
    # given a run in progress
    BooksRun.objects.create(status="running")

    # when another starts, then it is refused and records nothing
    with pytest.raises(BooksBusy):
        books_reconcile()
    assert BooksRun.objects.count() == 1


def test_a_run_abandoned_by_a_dead_worker_does_not_block_the_next(fake_blink: FakeBlink, settings: object) -> None:
    stale = BooksRun.objects.create(status="running")
    BooksRun.objects.filter(pk=stale.pk).update(started_at=timezone.now() - timedelta(hours=3))

    assert books_reconcile().ok

    stale.refresh_from_db()
    assert stale.status == "failed" and "abandoned" in stale.error


def test_refunds_are_matched_and_the_balance_still_agrees(fake_blink: FakeBlink, sale: Sale, parties: Parties) -> None:
    # given a sale, a paid refund of 400 sats and a funded one of 100 still waiting for its claim
    split = sale()
    customer = fake_blink.add_account("refund_customer")
    refunds = []
    for amount in (400, 100):
        refund = refund_create(
            merchant=split.merchant,
            payment_hash=split.payment_hash,
            request=RefundRequest(amount_sats=amount, tip_refunded=False, reason="books"),
            requested_by="test",
        )
        fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
        assert refund_funding_check(refund_id=refund.pk) == "refund_funded"
        refunds.append(refund)
    invoice = get_wallet_provider().create_invoice_for_recipient(
        recipient_wallet_id=customer, amount_sats=400, memo="refund", external_id="refundbooks1"
    )
    refund_payout_commit(refund_id=refunds[0].pk, payment_request=invoice.payment_request, via="invoice")
    assert refund_pay(refund_id=refunds[0].pk) == "succeeded"

    # when the books run
    result = books_reconcile()

    # then nothing differs: the funding receives and the payout send are the refunds', and the 100 sats
    # still held for the customer are part of what we should hold
    run = result.run
    assert result.findings == () and run.balance_actual == run.balance_expected
    assert run.balance_parts["refunds_funded"] == 500 and run.balance_parts["refunds_paid_out"] == 400
    assert not UnmatchedPayment.objects.exists()
    assert Refund.objects.filter(status="paid").count() == 1
