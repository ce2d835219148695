"""The concurrent payout invoices of a split (payments/services/payout_batch.py), against the fake Blink
over real HTTP: every leg's checked invoice is committed before the first send, a create that fails
or is lost leaves its leg to the per-leg path, and nothing is ever paid twice."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, SplitStatus
from payments.services.forwarding import forward_split
from payments.services.leg_sends import SendChain
from payments.services.payout_batch import plan_custodial_legs
from payments.wallet.provider import get_wallet_provider
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, paid_split

pytestmark = pytest.mark.django_db

CREATE = "lnInvoiceCreateOnBehalfOfRecipient"
SEND = "lnInvoicePaymentSend"


def _committed(leg: PaymentLeg) -> list[PaymentEvent]:
    return list(PaymentEvent.objects.filter(leg=leg, event_type="leg_invoice_created"))


def test_every_payout_invoice_is_committed_before_the_first_send(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    seen = len(fake_blink.requests())

    assert forward_split(split_id=split.pk) == "completed"

    ops = [op for r in fake_blink.requests()[seen:] for op in r["operations"] if op in (CREATE, SEND)]
    assert ops == [CREATE] * 3 + [SEND] * 3  # one create per leg, all before any send
    events = PaymentEvent.objects.filter(split_id=split.payment_hash)
    last_commit = max(e.pk for e in events if e.event_type == "leg_invoice_created")
    first_send = min(e.pk for e in events if e.event_type == "leg_sent")
    assert last_commit < first_send
    legs = list(PaymentLeg.objects.filter(split_id=split.pk))
    assert all(leg.status == LegStatus.SUCCEEDED and len(_committed(leg)) == 1 for leg in legs)
    assert_money_invariants(fake_blink, [split.pk])


def test_the_batch_commits_without_paying(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    split.status = SplitStatus.PROCESSING
    split.save(update_fields=["status"])
    seen = len(fake_blink.requests())

    assert plan_custodial_legs(split.pk) == 3

    assert [op for r in fake_blink.requests()[seen:] for op in r["operations"]] == [CREATE] * 3
    legs = list(PaymentLeg.objects.filter(split_id=split.pk))
    assert {leg.status for leg in legs} == {LegStatus.INVOICE_READY}
    assert all(fake_blink.invoice(leg.payment_hash)["status"] == "PENDING" for leg in legs)
    # a second batch finds nothing planned: no new invoice, nothing replaced
    assert plan_custodial_legs(split.pk) == 0
    assert [PaymentLeg.objects.get(pk=leg.pk).payment_hash for leg in legs] == [leg.payment_hash for leg in legs]


def test_the_batch_claims_the_forwards_first_two_legs_in_its_commit_without_paying(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    split.status = SplitStatus.PROCESSING
    split.save(update_fields=["status"])
    legs = list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))
    order = [legs[1].pk, legs[0].pk, legs[2].pk]
    chain = SendChain(provider=get_wallet_provider(), order=order)
    seen = len(fake_blink.requests())

    assert plan_custodial_legs(split.pk, chain=chain) == 3

    assert [op for r in fake_blink.requests()[seen:] for op in r["operations"]] == [CREATE] * 3  # nothing paid
    stored = {leg.pk: leg for leg in PaymentLeg.objects.filter(split_id=split.pk)}
    assert [stored[pk].status for pk in order] == [LegStatus.SENDING, LegStatus.SENDING, LegStatus.INVOICE_READY]
    assert list(chain.claimed) == order[:2]  # AHEAD legs, in the order they are sent
    for pk in order[:2]:
        assert (chain.claimed[pk].attempt, chain.claimed[pk].payment_request) == (1, stored[pk].payment_request)
    # the claims are written down after (and with) the invoices they pay
    events = list(PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk"))
    sent = [e for e in events if e.event_type == "leg_sent"]
    assert [e.leg_id for e in sent] == order[:2]
    assert max(e.pk for e in events if e.event_type == "leg_invoice_created") < sent[0].pk
    # claims whose sends never happened (the worker died) are never re-sent blindly: another forward pays
    # the other leg and leaves those to the reconciler's lookup
    seen = len(fake_blink.requests())
    assert forward_split(split_id=split.pk) == "in_progress"
    assert [op for r in fake_blink.requests()[seen:] for op in r["operations"] if op == SEND] == [SEND]
    for pk in order[:2]:
        claimed = PaymentLeg.objects.get(pk=pk)
        assert (claimed.status, claimed.attempts) == (LegStatus.SENDING, 1)


@pytest.mark.parametrize("answer", ["HTTP_503", "TIMEOUT_AFTER_APPLY"])
def test_a_failed_or_lost_create_leaves_its_leg_to_the_per_leg_path(
    fake_blink: FakeBlink, make_split: MakeSplit, answer: str
) -> None:
    # one of the three concurrent creates fails (503: nothing created) or is lost after Blink created it
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    fake_blink.script(CREATE, [answer])

    assert forward_split(split_id=split.pk) == "completed"

    legs = list(PaymentLeg.objects.filter(split_id=split.pk))
    assert all(leg.status == LegStatus.SUCCEEDED and leg.attempts == 1 for leg in legs)
    suffixes = sorted(e.event_data["external_id"].endswith("-r1") for leg in legs for e in _committed(leg))
    # exactly one committed invoice per leg; a lost create's externalId is taken, so its leg moved on to -r1
    assert len(suffixes) == 3
    assert suffixes.count(True) == (1 if answer == "TIMEOUT_AFTER_APPLY" else 0)
    assert_money_invariants(fake_blink, [split.pk])


def test_a_single_leg_is_left_to_the_per_leg_path(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = paid_split(fake_blink, make_split, tips=())
    assert plan_custodial_legs(split.pk) == 0
    assert PaymentLeg.objects.get(split_id=split.pk).status == LegStatus.PLANNED


def test_a_forward_that_starts_the_split_plans_from_its_first_transactions_rows(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    with CaptureQueriesContext(connection) as queries:
        assert forward_split(split_id=split.pk) == "completed"

    sql = [q["sql"] for q in queries.captured_queries]
    first_invoice = next(i for i, q in enumerate(sql) if q.startswith('UPDATE "payment_legs"'))
    before = sql[:first_invoice]
    # the split and its legs are read once each (locked, by the first transaction), the staff once; no
    # count of committed invoices: a split that was paid has never committed one
    assert sum(q.startswith("SELECT") and '"payment_splits"."id", ' in q for q in before) == 2  # + the batch's lock
    assert not any("COUNT(" in q and '"payment_events"' in q for q in sql)
    assert sum(q.startswith("SELECT") and 'FROM "staff_members"' in q and "FOR UPDATE" not in q for q in before) == 1
    legs = list(PaymentLeg.objects.filter(split_id=split.pk))
    assert all(leg.status == LegStatus.SUCCEEDED and len(_committed(leg)) == 1 for leg in legs)
    assert all(not e.event_data["external_id"].endswith("-r1") for leg in legs for e in _committed(leg))
    assert_money_invariants(fake_blink, [split.pk])


def test_a_resumed_forward_counts_the_invoices_its_legs_committed_before(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # two legs committed an invoice each, then went back to planned for a new one (as after Blink said
    # EXPIRED): the batch asks for the next externalId straight away, without a refused create first
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    split.status = SplitStatus.PROCESSING
    split.save(update_fields=["status"])
    assert plan_custodial_legs(split.pk) == 3
    again = list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))[:2]
    PaymentLeg.objects.filter(pk__in=[leg.pk for leg in again]).update(status=LegStatus.PLANNED)  # as rearm_locked
    seen = len(fake_blink.requests())

    assert forward_split(split_id=split.pk) == "completed"

    creates = [r for r in fake_blink.requests()[seen:] if CREATE in r["operations"]]
    assert len(creates) == 2 and all(r["outcome"] is None for r in creates)
    for leg in again:
        assert sorted(e.event_data["external_id"].endswith("-r1") for e in _committed(leg)) == [False, True]
    assert_money_invariants(fake_blink, [split.pk])
