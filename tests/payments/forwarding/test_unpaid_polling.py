"""Every invoice Blink could still settle is polled until Blink, asked after its expiry plus a margin,
says it is not paid: expired ones however long beat was down, cancelled ones whose cancel at Blink
failed. A reconciler pass that runs out of time, or hits its soft time limit, resumes where it stopped."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from types import FrameType

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from fakeblink import FakeBlink
from payments.models import PaymentSplit, SplitStatus
from payments.services.forwarding import forward_split
from payments.services.invoice_cancel import invoice_cancel
from payments.services.maintenance import splits_expire
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants

pytestmark = pytest.mark.django_db


def _expired(make_split: MakeSplit, ago: timedelta) -> PaymentSplit:
    """A split our expiry job already expired, ``ago`` past its expires_at."""
    split = make_split(tips=(100,), expires_in=-ago)
    splits_expire()
    split.refresh_from_db()
    assert split.status == SplitStatus.EXPIRED
    return split


def test_a_payment_whose_webhook_was_lost_is_found_however_long_beat_was_down(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a sale paid at Blink (webhook lost) that our expiry job marked expired when beat came
    # back, 20 minutes after expires_at
    split = _expired(make_split, timedelta(minutes=20))
    fake_blink.pay_invoice_as_customer(split.payment_hash)

    # when the reconciler runs
    counts = reconcile_once(lease_seconds=0, stale_seconds=0)

    # then the payment is recorded (late) and forwarded
    split.refresh_from_db()
    assert counts["detected"] == 1 and split.status == SplitStatus.PAID
    assert forward_split(split_id=split.pk) == "completed"
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


def test_a_cancelled_sale_blink_did_not_cancel_is_still_polled(
    fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a sale cancelled here while Blink's cancel failed, so the invoice stays payable
    split = make_split(tips=(100,))
    fake_blink.script("lnInvoiceCancel", ["HTTP_500"])
    invoice_cancel(split=split)
    split.refresh_from_db()
    assert split.status == SplitStatus.CANCELLED and fake_blink.invoice(split.payment_hash)["status"] == "PENDING"

    # when the customer pays it anyway and the webhook is lost
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    reconcile_once(lease_seconds=0, stale_seconds=0)

    # then it is recorded and forwarded like any late payment
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID
    assert forward_split(split_id=split.pk) == "completed"
    assert_money_invariants(fake_blink, [split.pk])


def test_polling_stops_only_once_blink_says_unpaid_after_its_expiry_plus_the_margin(
    fake_blink: FakeBlink, make_split: MakeSplit, settings: object
) -> None:
    # given two expired sales Blink also says are expired: one well past the margin, one inside it
    settings.UNPAID_POLL_MARGIN_SECONDS = 600  # type: ignore[attr-defined]
    old = _expired(make_split, timedelta(minutes=20))
    recent = _expired(make_split, timedelta(minutes=1))
    fake_blink.advance_clock(16 * 60)
    assert fake_blink.invoice(old.payment_hash)["status"] == "EXPIRED"

    # when the reconciler polls them
    first = reconcile_once(lease_seconds=0, stale_seconds=0)

    # then only the one past the margin is settled for good; the other is polled again
    old.refresh_from_db()
    recent.refresh_from_db()
    assert first["polled"] == 2 and first["confirmed_unpaid"] == 1
    assert old.unpaid_confirmed_at is not None and recent.unpaid_confirmed_at is None
    second = reconcile_once(lease_seconds=0, stale_seconds=0)
    assert second["polled"] == 1
    assert old.status == recent.status == SplitStatus.EXPIRED


def test_a_pass_out_of_time_resumes_with_what_it_did_not_reach(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    # given four unpaid sales past their expiry and margin, whose polling only Blink's own status answer
    # can end, and a Blink answering each status call in 0.4 s
    splits = [_expired(make_split, timedelta(minutes=20)) for _ in range(4)]
    fake_blink.advance_clock(20 * 60)
    fake_blink.set_latency("lnInvoicePaymentStatusByHash", 0.4)

    # when a pass has 1 s (half of it for polling)
    first = reconcile_once(lease_seconds=60, budget_seconds=1.0)

    # then it polled what fitted, released the rest, and the next pass polls exactly those
    assert 0 < first["polled"] < 4 and first["polled"] + first["poll_deferred"] == 4
    released = PaymentSplit.objects.filter(pk__in=[s.pk for s in splits], next_attempt_at__isnull=True).count()
    assert released == first["poll_deferred"]
    fake_blink.set_latency("lnInvoicePaymentStatusByHash", 0)
    second = reconcile_once(lease_seconds=60, budget_seconds=60)
    assert second["polled"] == first["poll_deferred"]
    assert not PaymentSplit.objects.filter(pk__in=[s.pk for s in splits], next_attempt_at__isnull=True).exists()


@pytest.fixture
def soft_time_limit() -> Iterator[None]:
    """Celery's soft time limit as the worker delivers it: an exception raised asynchronously."""

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 0.6)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_soft_time_limit_is_caught_and_the_next_pass_resumes(
    fake_blink: FakeBlink, make_split: MakeSplit, request: pytest.FixtureRequest
) -> None:
    # given four unpaid sales whose final answer is due from Blink, and a slow Blink
    splits = [_expired(make_split, timedelta(minutes=20)) for _ in range(4)]
    fake_blink.advance_clock(20 * 60)
    fake_blink.set_latency("lnInvoicePaymentStatusByHash", 0.4)

    # when the task's soft time limit strikes in the middle of the polls
    request.getfixturevalue("soft_time_limit")
    counts = reconcile_once(lease_seconds=60)

    # then the pass ends cleanly, and what it did not reach is released for the next one
    assert counts["interrupted"] == 1
    released = PaymentSplit.objects.filter(pk__in=[s.pk for s in splits], next_attempt_at__isnull=True).count()
    assert 0 < released < 4
    fake_blink.set_latency("lnInvoicePaymentStatusByHash", 0)
    assert reconcile_once(lease_seconds=60)["polled"] == released
