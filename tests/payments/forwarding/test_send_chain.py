"""A forward's send chain (payments/services/leg_sends.py ``SendChain``), against the fake Blink over real
HTTP: claims ride on the transactions recording earlier legs, the next leg's send runs while the previous
answer is recorded, and a worker dying in between never leads to a blind second payment."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentEvent, PaymentLeg, PaymentSplit, SplitStatus
from payments.services import forwarding, leg_sends
from payments.services.forwarding import forward_split
from payments.services.reconcile import reconcile_once
from payments.wallet.base import WalletProvider
from payments.wallet.types import SendResult
from tests.payments.forwarding.conftest import MakeSplit, assert_money_invariants, paid_split

pytestmark = pytest.mark.django_db


def _leg_ids(split: PaymentSplit) -> list[int]:
    return list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk").values_list("pk", flat=True))


def test_each_leg_is_claimed_before_its_send_and_claims_ride_on_earlier_records(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    with CaptureQueriesContext(connection) as queries:
        assert forward_split(split_id=split.pk) == "completed"

    # start, the invoices' commit (claims legs 1 and 2), 3 records (the first claims leg 3, the last settles)
    assert sum(q["sql"] == "BEGIN" for q in queries.captured_queries) <= 5
    legs = _leg_ids(split)
    events = list(PaymentEvent.objects.filter(split_id=split.payment_hash).order_by("pk"))
    kinds = [(e.event_type, e.leg_id) for e in events if e.event_type in ("leg_sent", "leg_succeeded")]
    assert kinds == [
        ("leg_sent", legs[0]),
        ("leg_sent", legs[1]),  # with the invoices: AHEAD legs
        ("leg_succeeded", legs[0]),
        ("leg_sent", legs[2]),  # with leg 1's outcome
        ("leg_succeeded", legs[1]),
        ("leg_succeeded", legs[2]),
    ]
    assert all(leg.attempts == 1 for leg in PaymentLeg.objects.filter(split_id=split.pk))
    assert_money_invariants(fake_blink, [split.pk])


class _Overlap:
    """A provider around the real one: the second send waits until leg 1's record has begun, and leg 1's
    record waits (bounded) until the second send has started. Only a chain that sends leg 2 while
    leg 1 is being recorded gets through both waits."""

    def __init__(self, inner: WalletProvider) -> None:
        self.inner = inner
        self.sends = 0
        self.second_send_started = threading.Event()
        self.first_record_begun = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def pay_invoice(self, **kwargs: Any) -> SendResult:
        self.sends += 1
        if self.sends == 2:
            self.second_send_started.set()
            assert self.first_record_begun.wait(10)
        return self.inner.pay_invoice(**kwargs)


def test_the_next_send_runs_while_the_previous_answer_is_recorded(
    fake_blink: FakeBlink, make_split: MakeSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    real_provider_for = forwarding.provider_for
    overlap: list[_Overlap] = []

    def provider_for(**kwargs: Any) -> WalletProvider:
        overlap.append(_Overlap(real_provider_for(**kwargs)))
        return overlap[-1]

    real_record = leg_sends.record_send
    recorded: list[tuple[int, bool]] = []

    def record_send(**kwargs: Any) -> str:
        if not recorded:
            overlap[0].first_record_begun.set()
            recorded.append((kwargs["leg_id"], overlap[0].second_send_started.wait(10)))
        return real_record(**kwargs)

    monkeypatch.setattr(forwarding, "provider_for", provider_for)
    monkeypatch.setattr(forwarding, "record_send", record_send)

    assert forward_split(split_id=split.pk) == "completed"

    assert recorded == [(_leg_ids(split)[0], True)]  # leg 2 was on its way while leg 1 was recorded
    assert overlap[0].sends == 3
    assert_money_invariants(fake_blink, [split.pk])


def test_a_worker_dying_between_sends_leaves_claimed_legs_to_the_lookup_never_resent_blindly(
    fake_blink: FakeBlink, make_split: MakeSplit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the process dies right after recording leg 1: leg 2's send had started, leg 3 was claimed, unsent
    split = paid_split(fake_blink, make_split, tips=(100, 50))
    real = forwarding._leg_send
    calls: list[int] = []

    def die_on_second(split_id: int, leg_id: int, **kwargs: Any) -> str:
        calls.append(leg_id)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real(split_id, leg_id, **kwargs)

    monkeypatch.setattr(forwarding, "_leg_send", die_on_second)
    with pytest.raises(SystemExit):
        forward_split(split_id=split.pk)

    legs = list(PaymentLeg.objects.filter(split_id=split.pk).order_by("pk"))
    assert [leg.status for leg in legs] == [LegStatus.SUCCEEDED, LegStatus.SENDING, LegStatus.SENDING]
    assert [fake_blink.debits_for(leg.payment_hash or "") for leg in legs] == [1, 1, 0]  # leg 3: claimed only
    assert all(leg.attempts == 1 for leg in legs)
    # a new pass pays neither claimed leg blindly: sends in flight are the lookup's
    monkeypatch.setattr(forwarding, "_leg_send", real)
    forward_split(split_id=split.pk)
    assert [fake_blink.debits_for(leg.payment_hash or "") for leg in legs] == [1, 1, 0]
    assert [PaymentLeg.objects.get(pk=leg.pk).status for leg in legs[1:]] == [LegStatus.SENDING] * 2
    # the reconciler asks Blink: leg 2 was paid (succeeded), leg 3 never was (sent again, the same bolt11)
    for _ in range(5):
        reconcile_once(lease_seconds=0, stale_seconds=0, sending_stale_seconds=0)
        forward_split(split_id=split.pk)
        if PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.COMPLETED:
            break
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.COMPLETED
    assert [fake_blink.debits_for(leg.payment_hash or "") for leg in legs] == [1, 1, 1]
    assert_money_invariants(fake_blink, [split.pk])
