"""The unpaid-invoice poll reads the platform wallet's history once for a whole batch, instead of asking
Blink about every invoice: one listing finds the receipts, and an invoice's own status is asked for only
where Blink's answer is needed (its final "not paid" after expiry) or the history cannot answer."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from fakeblink import FakeBlink
from payments.models import PaymentSplit, SplitStatus
from payments.services.maintenance import splits_expire
from payments.services.reconcile import reconcile_once
from tests.payments.forwarding.conftest import MakeSplit

pytestmark = pytest.mark.django_db

LISTING = ("me",)  # the history is read under the `me` root field
STATUS = ("lnInvoicePaymentStatusByHash",)


def _calls(fake: FakeBlink, since: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(r["operations"]) for r in fake.requests()[since:])


def test_one_listing_finds_every_paid_invoice_of_the_batch_without_a_status_call_each(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given: eight open sales, three of them paid at Blink with their webhooks lost
    splits = [make_split(tips=(100,)) for _ in range(8)]
    paid = splits[:3]
    for split in paid:
        fake_blink.pay_invoice_as_customer(split.payment_hash)
    before = fake_blink.request_count

    # when: the reconciler polls the unpaid invoices
    counts = reconcile_once(lease_seconds=0, stale_seconds=0)

    # then: the three payments are detected from one read of the history, and no invoice was asked about
    assert counts["detected"] == 3
    assert {s.pk for s in PaymentSplit.objects.filter(status=SplitStatus.PAID)} >= {s.pk for s in paid}
    calls = _calls(fake_blink, before)
    assert calls[STATUS] == 0
    assert 1 <= calls[LISTING] <= 2  # the history, plus the reconciler's own lookups if it made any
    assert PaymentSplit.objects.filter(pk__in=[s.pk for s in splits[3:]], status=SplitStatus.PENDING).count() == 5


def test_an_expired_invoice_past_its_margin_still_gets_blinks_own_final_answer(
    fake_blink: FakeBlink, make_split: MakeSplit, settings: object
) -> None:
    # given: a sale expired here 20 minutes ago, past the 10-minute margin, and never paid
    split = make_split(tips=(100,), expires_in=-timedelta(minutes=20))
    splits_expire()
    fake_blink.advance_clock(20 * 60)  # Blink's invoice has expired too
    before = fake_blink.request_count

    # when
    reconcile_once(lease_seconds=0, stale_seconds=0)

    # then: its polling ends on Blink's own answer for that invoice, not on the history alone
    split.refresh_from_db()
    assert _calls(fake_blink, before)[STATUS] == 1
    assert split.status == SplitStatus.EXPIRED and split.unpaid_confirmed_at is not None


def test_when_the_history_cannot_be_read_every_invoice_is_asked_for(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given: two open sales, one paid, and Blink failing the history read
    first, second = make_split(tips=(100,)), make_split(tips=(100,))
    fake_blink.pay_invoice_as_customer(first.payment_hash)
    fake_blink.script("me", ["HTTP_500"])
    before = fake_blink.request_count

    # when
    counts = reconcile_once(lease_seconds=0, stale_seconds=0)

    # then: each invoice was asked about on its own and the payment is still found
    assert _calls(fake_blink, before)[STATUS] == 2
    assert counts["detected"] == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == SplitStatus.PAID and second.status == SplitStatus.PENDING
