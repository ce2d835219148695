"""A refund end to end against the fake Blink over HTTP: funding invoice, the merchant paying it,
the customer's claim (LNURL-withdraw) paid once, an unpaid funding invoice expiring with nothing paid."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import PaymentEvent, PayoutState, Refund, RefundStatus, UnmatchedPayment, WebhookDelivery
from payments.services.detection import payment_detected
from payments.services.refund_payouts import (
    ClaimRefused,
    refund_claim_withdraw,
    refund_pay,
    refund_payout_commit,
    refund_reopen,
)
from payments.services.refund_sweep import refunds_sweep
from payments.services.refunds import RefundRefused, refund_cancel, refund_funding_check
from payments.services.webhooks import delivery_process
from tests.payments.forwarding.conftest import net_debits, paid_body, sign
from tests.payments.refunds.conftest import MakeSale, Shop, funded_refund, new_refund

pytestmark = pytest.mark.django_db


def _events(refund: Refund) -> list[str]:
    return list(
        PaymentEvent.objects.filter(split_id=refund.split.payment_hash, event_data__refund_id=refund.pk)
        .order_by("timestamp", "id")
        .values_list("event_type", flat=True)
    )


def test_a_refund_is_funded_by_the_merchant_and_paid_to_the_customers_claim_once(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    # given a completed sale of 1150 sats and a partial refund of 500
    split = make_sale()
    refund = new_refund(split, amount=500)
    assert refund.status == RefundStatus.AWAITING_FUNDING
    funding = fake_blink.invoice(refund.funding_payment_hash)
    assert (
        funding is not None and funding["amount_sats"] == 500 and funding["wallet_id"] == fake_blink.platform_wallet_id
    )

    # when the merchant pays the funding invoice and the webhook's detection sees it
    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    assert (
        payment_detected(payment_hash=refund.funding_payment_hash, amount_sats=500, source="webhook") == "refund_funded"
    )
    assert (
        payment_detected(payment_hash=refund.funding_payment_hash, amount_sats=500, source="poll")
        == "refund_already_funded"
    )

    # and the customer's wallet calls the claim callback with its invoice
    refund.refresh_from_db()
    bolt11 = customer(500)
    refund_claim_withdraw(claim_token=refund.claim_token, k1=refund.claim_k1, payment_request=bolt11)
    assert refund_pay(refund_id=refund.pk) == "succeeded"

    # then the customer got exactly 500 sats, once, and the trail shows each step
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PAID and refund.payout_state == PayoutState.SUCCEEDED
    assert fake_blink.balance(customer.wallet_id) == 500  # type: ignore[attr-defined]
    assert net_debits(fake_blink, refund.payout_hash or "") == 1
    assert refund_pay(refund_id=refund.pk) == "skipped"
    assert _events(refund) == [
        "refund_created",
        "refund_funded",
        "refund_payout_committed",
        "refund_sent",
        "refund_paid",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_claim_hit_twice_concurrently_pays_once(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    # given a funded refund and two claims with two different invoices at the same moment
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=300)
    invoices = [customer(300), customer(300)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def claim(bolt11: str) -> None:
        try:
            barrier.wait(timeout=10)
            refund_claim_withdraw(claim_token=refund.claim_token, k1=refund.claim_k1, payment_request=bolt11)
            outcomes.append("committed")
        except ClaimRefused as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(b,)) for b in invoices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # and the send task runs twice (a redelivered message)
    results = [refund_pay(refund_id=refund.pk), refund_pay(refund_id=refund.pk)]

    # then one claim was committed, one refused, and the platform paid once
    assert sorted(outcomes) == ["already_claimed", "committed"]
    assert sorted(results) == ["skipped", "succeeded"]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PAID
    assert fake_blink.balance(customer.wallet_id) == 300  # type: ignore[attr-defined]


def test_an_unpaid_funding_invoice_expires_with_nothing_paid(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str], settings: object
) -> None:
    # given a refund whose funding invoice the merchant never pays
    split = make_sale()
    refund = new_refund(split, amount=400)
    platform_before = fake_blink.balance(fake_blink.platform_wallet_id)
    assert refund_funding_check(refund_id=refund.pk) == "pending"

    # when Blink's clock passes its expiry and the sweep asks
    fake_blink.advance_clock(61 * 60)
    assert refunds_sweep()["funding_expired"] == 1

    # then the refund expired, nothing moved, and it can never be claimed or paid
    refund.refresh_from_db()
    assert refund.status == RefundStatus.EXPIRED
    assert fake_blink.balance(fake_blink.platform_wallet_id) == platform_before
    with pytest.raises(ClaimRefused):
        refund_payout_commit(refund_id=refund.pk, payment_request=customer(400), via="invoice")
    with pytest.raises(ValueError, match="expired"):
        fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    assert _events(refund) == ["refund_created", "refund_expired"]


def test_a_wrong_invoice_is_refused_naming_the_field_and_nothing_is_committed(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=250)

    for bad in (customer(251), "lnbc1garbage", "", split.payment_request):
        with pytest.raises(ClaimRefused) as refused:
            refund_claim_withdraw(claim_token=refund.claim_token, k1=refund.claim_k1, payment_request=bad)
        assert "pr" in refused.value.fields

    with pytest.raises(ClaimRefused) as wrong_k1:
        refund_claim_withdraw(claim_token=refund.claim_token, k1="0" * 64, payment_request=customer(250))
    assert wrong_k1.value.http_status == 404
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FUNDED and refund.payout_hash is None


def test_a_failed_payout_reopens_the_claim_and_a_new_invoice_is_paid_once(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    # given a funded refund whose first send Blink fails explicitly
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=200)
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(200), via="invoice")
    fake_blink.script("lnInvoicePaymentSend", ["FAILURE"])

    # when it is sent, then the customer gives a new invoice
    assert refund_pay(refund_id=refund.pk) == "failed"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FUNDED and refund.payout_failures == 1
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(200), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"

    # then the customer was paid once
    assert fake_blink.balance(customer.wallet_id) == 200  # type: ignore[attr-defined]


def test_an_unknown_send_is_looked_up_never_resent_blindly(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=200)
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(200), via="invoice")
    fake_blink.script("lnInvoicePaymentSend", ["TIMEOUT_AFTER_APPLY"])

    assert refund_pay(refund_id=refund.pk) == "unknown"
    Refund.objects.filter(pk=refund.pk).update(next_attempt_at=None)
    assert refunds_sweep()["lookup_succeeded"] == 1

    refund.refresh_from_db()
    assert refund.status == RefundStatus.PAID
    assert net_debits(fake_blink, refund.payout_hash or "") == 1


def test_refund_requests_are_checked_before_anything_is_written(fake_blink: FakeBlink, make_sale: MakeSale) -> None:
    split = make_sale()
    pending = make_sale(forward=False)
    cases = [
        ({"amount": 0}, "amount_sats"),
        ({"amount": 1001}, "amount_sats"),  # the tip is not refunded: at most the base
        ({"amount": 1151, "tip": True}, "amount_sats"),
        ({"amount": 10, "reason": "   "}, "reason"),
        ({"amount": 10, "reason": "x" * 501}, "reason"),
    ]
    for kwargs, field in cases:
        with pytest.raises(RefundRefused) as refused:
            new_refund(split, **kwargs)  # type: ignore[arg-type]
        assert field in refused.value.fields
    with pytest.raises(RefundRefused) as not_completed:
        new_refund(pending, amount=10)
    assert not_completed.value.http_status == 409
    assert not Refund.objects.exists()


def test_full_refund_with_tip_returns_exactly_base_and_tip(fake_blink: FakeBlink, make_sale: MakeSale) -> None:
    split = make_sale()
    refund = new_refund(split, tip=True)
    assert (refund.amount_sats, refund.base_part_sats, refund.tip_part_sats) == (1150, 1000, 150)
    with pytest.raises(RefundRefused):
        new_refund(split, amount=1, tip=True)


def test_the_merchant_cancels_an_unfunded_refund_and_its_invoice_can_no_longer_be_paid(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop
) -> None:
    split = make_sale()
    refund = new_refund(split, amount=100)

    refund_cancel(merchant=shop.merchant, refund_id=refund.pk, by="merchant:test")

    refund.refresh_from_db()
    assert refund.status == RefundStatus.CANCELLED
    with pytest.raises(ValueError):
        fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    new_refund(split, amount=1000)  # the cancelled one no longer counts


def test_an_expired_claim_refuses_the_lnurl_but_the_merchant_can_still_pay_an_invoice(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str]
) -> None:
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=150)
    Refund.objects.filter(pk=refund.pk).update(claim_expires_at=timezone.now() - timedelta(minutes=1))

    with pytest.raises(ClaimRefused) as refused:
        refund_claim_withdraw(claim_token=refund.claim_token, k1=refund.claim_k1, payment_request=customer(150))
    assert refused.value.code == "not_claimable"
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(150), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"


def test_repeated_confirmed_failures_hand_the_refund_to_an_operator_who_reopens_it(
    fake_blink: FakeBlink, make_sale: MakeSale, customer: Callable[[int], str], settings: object
) -> None:
    settings.REFUND_MAX_PAYOUT_FAILURES = 2  # type: ignore[attr-defined]
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=120)
    for _ in range(2):
        refund_payout_commit(refund_id=refund.pk, payment_request=customer(120), via="invoice")
        fake_blink.script("lnInvoicePaymentSend", ["FAILURE"])
        assert refund_pay(refund_id=refund.pk) == "failed"
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    with pytest.raises(ClaimRefused):
        refund_payout_commit(refund_id=refund.pk, payment_request=customer(120), via="invoice")

    refund_reopen(refund_id=refund.pk, by="operator:test")
    refund_payout_commit(refund_id=refund.pk, payment_request=customer(120), via="invoice")
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    assert fake_blink.balance(customer.wallet_id) == 120  # type: ignore[attr-defined]


def test_blinks_signed_webhook_for_the_funding_invoice_funds_the_refund_once(
    fake_blink: FakeBlink, make_sale: MakeSale
) -> None:
    # given a refund and the body Blink sends when the merchant pays its funding invoice
    split = make_sale()
    refund = new_refund(split, amount=321)
    body, _ = paid_body(fake_blink, refund.funding_payment_hash)
    client = Client()

    # when it is delivered (twice, as webhooks are at least once) and the worker acts on it
    for _ in range(2):
        response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))
        assert response.status_code == 200
    outcomes = [delivery_process(delivery_id=d.pk) for d in WebhookDelivery.objects.order_by("pk")]

    # then the refund is funded once and nothing went to the unmatched payments
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FUNDED and refund.claim_expires_at is not None
    assert "refund_funded" in outcomes
    assert not UnmatchedPayment.objects.exists()
    assert _events(refund).count("refund_funded") == 1
