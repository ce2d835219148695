"""The concurrent payout invoices of a split (payments/services/payout_batch.py), against the fake Blink
over real HTTP: every leg's checked invoice is committed before the first send, a create that fails
or is lost leaves its leg to the per-leg path, and nothing is ever paid twice."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, SplitStatus
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.leg_sends import SendChain
from payments.services.payout_batch import plan_custodial_legs
from payments.wallet.provider import get_wallet_provider
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants

pytestmark = pytest.mark.django_db

CREATE = "lnInvoiceCreateOnBehalfOfRecipient"
SEND = "lnInvoicePaymentSend"


def _paid(fake: FakeBlink, make_split: MakeSplit, **kwargs: object):
    split = make_split(**kwargs)
    fake.pay_invoice_as_customer(split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    return split


def _committed(leg: PaymentLeg) -> list[PaymentEvent]:
    return list(PaymentEvent.objects.filter(leg=leg, event_type="leg_invoice_created"))


def test_every_payout_invoice_is_committed_before_the_first_send(fake_blink: FakeBlink, make_split: MakeSplit) -> None:
    split = _paid(fake_blink, make_split, tips=(100, 50))
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
    split = _paid(fake_blink, make_split, tips=(100, 50))
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


def test_the_batch_claims_the_forwards_first_leg_in_its_commit_without_paying(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = _paid(fake_blink, make_split, tips=(100, 50))
    split.status = SplitStatus.PROCESSING
    split.save(update_fields=["status"])
    legs = list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))
    order = [legs[1].pk, legs[0].pk, legs[2].pk]
    chain = SendChain(provider=get_wallet_provider(), order=order)
    seen = len(fake_blink.requests())

    assert plan_custodial_legs(split.pk, chain=chain) == 3

    assert [op for r in fake_blink.requests()[seen:] for op in r["operations"]] == [CREATE] * 3  # nothing paid
    stored = {leg.pk: leg for leg in PaymentLeg.objects.filter(split_id=split.pk)}
    assert [stored[pk].status for pk in order] == [LegStatus.SENDING, LegStatus.INVOICE_READY, LegStatus.INVOICE_READY]
    claim = chain.claimed[order[0]]
    assert list(chain.claimed) == [order[0]]
    assert (claim.attempt, claim.payment_request) == (1, stored[order[0]].payment_request)
    # the claim is written down after (and with) the invoices it pays
    events = list(PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk"))
    sent = [e for e in events if e.event_type == "leg_sent"]
    assert [e.leg_id for e in sent] == [order[0]]
    assert max(e.pk for e in events if e.event_type == "leg_invoice_created") < sent[0].pk
    # a claim whose send never happened (the worker died) is never re-sent blindly: another forward pays
    # the other legs and leaves that one to the reconciler's lookup
    seen = len(fake_blink.requests())
    assert forward_split(split_id=split.pk) == "in_progress"
    assert [op for r in fake_blink.requests()[seen:] for op in r["operations"] if op == SEND] == [SEND] * 2
    claimed = PaymentLeg.objects.get(pk=order[0])
    assert (claimed.status, claimed.attempts) == (LegStatus.SENDING, 1)


@pytest.mark.parametrize("answer", ["HTTP_503", "TIMEOUT_AFTER_APPLY"])
def test_a_failed_or_lost_create_leaves_its_leg_to_the_per_leg_path(
    fake_blink: FakeBlink, make_split: MakeSplit, answer: str
) -> None:
    # one of the three concurrent creates fails (503: nothing created) or is lost after Blink created it
    split = _paid(fake_blink, make_split, tips=(100, 50))
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
    split = _paid(fake_blink, make_split, tips=())
    assert plan_custodial_legs(split.pk) == 0
    assert PaymentLeg.objects.get(split_id=split.pk).status == LegStatus.PLANNED


def test_a_forward_records_one_leg_and_claims_the_next_in_one_transaction(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # a 3-leg sale: every leg is claimed (leg_sent) before its send and recorded after it, and the
    # claims of legs 2 and 3 are committed with the outcome of the leg before them
    split = _paid(fake_blink, make_split, tips=(100, 50))
    with CaptureQueriesContext(connection) as queries:
        assert forward_split(split_id=split.pk) == "completed"

    transactions = sum(q["sql"] == "BEGIN" for q in queries.captured_queries)
    # start, the invoices' commit, claim of leg 1, 3 x (record + claim next; the last one settles)
    assert transactions <= 6
    events = list(PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk"))
    kinds = [(e.event_type, e.leg_id) for e in events if e.event_type in ("leg_sent", "leg_succeeded")]
    legs = [leg.pk for leg in PaymentLeg.objects.filter(split_id=split.pk).order_by("pk")]
    expected = [("leg_sent", legs[0])]
    for current, following in zip(legs, [*legs[1:], None], strict=True):
        expected.append(("leg_succeeded", current))
        if following is not None:
            expected.append(("leg_sent", following))
    assert kinds == expected
    assert all(leg.attempts == 1 for leg in PaymentLeg.objects.filter(split_id=split.pk))
    assert_money_invariants(fake_blink, [split.pk])


def test_a_worker_dying_after_a_chained_claim_leaves_the_leg_sending_for_the_lookup(
    fake_blink: FakeBlink, make_split: MakeSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process dies right after the transaction that recorded leg 1 and claimed leg 2
    from payments.services import forwarding

    split = _paid(fake_blink, make_split, tips=(100, 50))
    real = forwarding._leg_send
    calls: list[int] = []

    def die_on_second(split_id: int, leg_id: int, **kwargs: object) -> str:
        calls.append(leg_id)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(split_id, leg_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(forwarding, "_leg_send", die_on_second)
    with pytest.raises(SystemExit):
        forward_split(split_id=split.pk)

    legs = list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))
    assert [leg.status for leg in legs] == [LegStatus.SUCCEEDED, LegStatus.SENDING, LegStatus.INVOICE_READY]
    assert legs[1].attempts == 1 and fake_blink.debits_for(legs[1].payment_hash or "") == 0  # claimed, never paid
    # a new pass does not pay the claimed leg blindly: it is left to the lookup of sends in flight
    monkeypatch.setattr(forwarding, "_leg_send", real)
    forward_split(split_id=split.pk)
    assert fake_blink.debits_for(legs[1].payment_hash or "") == 0
    assert PaymentLeg.objects.get(pk=legs[1].pk).status == LegStatus.SENDING
    assert PaymentLeg.objects.get(pk=legs[2].pk).status == LegStatus.SUCCEEDED
