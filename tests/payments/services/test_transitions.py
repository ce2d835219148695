"""Every (from, to) pair of split and leg statuses: allowed moves write exactly one event, the rest
write nothing; state changes need a transaction; the hot store follows after commit."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_redis import get_redis_connection

from payments import store
from payments.models import LegStatus, PaymentEvent, PaymentSplit, SplitStatus
from payments.services.transitions import (
    LEG_TRANSITIONS,
    SPLIT_TRANSITIONS,
    IllegalTransition,
    can_transition_leg,
    can_transition_split,
    lock_legs,
    lock_split,
    record_event,
    transition_leg,
    transition_split,
)
from tests.factories import PaymentLegFactory, PaymentSplitFactory

SPLIT_PAIRS = list(itertools.product(SplitStatus.values, repeat=2))
LEG_PAIRS = list(itertools.product(LegStatus.values, repeat=2))
EVENT = "status_changed"  # not a terminal type: the test is about the transition, not event uniqueness


def _redis() -> Any:
    return get_redis_connection(store.HOT_ALIAS)


def test_tables_cover_every_status_and_name_only_known_ones() -> None:
    assert set(SPLIT_TRANSITIONS) == set(SplitStatus.values)
    assert set(LEG_TRANSITIONS) == set(LegStatus.values)
    assert set().union(*SPLIT_TRANSITIONS.values()) <= set(SplitStatus.values)
    assert set().union(*LEG_TRANSITIONS.values()) <= set(LegStatus.values)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        # the money paths the design names must stay open ...
        (SplitStatus.PENDING, SplitStatus.PAID),
        (SplitStatus.PAID, SplitStatus.PROCESSING),
        (SplitStatus.PROCESSING, SplitStatus.COMPLETED),
        (SplitStatus.PENDING, SplitStatus.EXPIRED),
        (SplitStatus.EXPIRED, SplitStatus.PAID),  # a late payment is forwarded, never dropped
        (SplitStatus.PROCESSING, SplitStatus.FAILED),
    ],
)
def test_design_split_paths_are_allowed(current: str, target: str) -> None:
    assert can_transition_split(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        # ... and the ones that would lose or double money must stay shut
        (SplitStatus.COMPLETED, SplitStatus.PROCESSING),
        (SplitStatus.COMPLETED, SplitStatus.PENDING),
        (SplitStatus.PENDING, SplitStatus.COMPLETED),
        (SplitStatus.PENDING, SplitStatus.PROCESSING),
        (SplitStatus.PAID, SplitStatus.EXPIRED),
    ],
)
def test_dangerous_split_paths_are_refused(current: str, target: str) -> None:
    assert not can_transition_split(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (LegStatus.SUCCEEDED, LegStatus.SENDING),
        (LegStatus.UNKNOWN, LegStatus.SENDING),
        (LegStatus.PLANNED, LegStatus.SENDING),
    ],
)
def test_legs_never_resend_without_a_committed_invoice_or_after_an_unknown(current: str, target: str) -> None:
    assert not can_transition_leg(current, target)


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), SPLIT_PAIRS, ids=[f"{a}->{b}" for a, b in SPLIT_PAIRS])
def test_split_transition(current: str, target: str, django_capture_on_commit_callbacks: Any) -> None:
    split = PaymentSplitFactory(status=current)
    allowed = target in SPLIT_TRANSITIONS[current]

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        if allowed:
            transition_split(locked, target, event_type=EVENT, data={"why": "test"}, error_message="note")
        else:
            with pytest.raises(IllegalTransition) as excinfo:
                transition_split(locked, target, event_type=EVENT, error_message="note")
            assert (excinfo.value.current, excinfo.value.target) == (current, target)
            assert locked.status == current  # the in-memory object is untouched too

    split.refresh_from_db()
    events = list(PaymentEvent.objects.filter(split=split))
    if allowed:
        assert split.status == target
        assert split.error_message == "note"
        assert len(events) == 1
        (event,) = events
        assert (event.event_type, event.from_status, event.to_status) == (EVENT, current, target)
        assert event.event_data == {"why": "test"}
        assert event.leg_id is None
        assert len(callbacks) == 2  # after commit: the hot-store sync, then the status streams' publish
    else:
        assert split.status == current
        assert split.error_message == ""
        assert events == []
        assert callbacks == []


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), LEG_PAIRS, ids=[f"{a}->{b}" for a, b in LEG_PAIRS])
def test_leg_transition(current: str, target: str) -> None:
    leg = PaymentLegFactory(status=current)
    allowed = target in LEG_TRANSITIONS[current]
    before = leg.updated_at

    with transaction.atomic():
        locked = lock_split(split_id=leg.split_id)
        assert locked is not None
        (locked_leg,) = lock_legs(locked)
        if allowed:
            transition_leg(locked_leg, target, event_type="leg_status", data={"code": "X"}, last_error="boom")
        else:
            with pytest.raises(IllegalTransition):
                transition_leg(locked_leg, target, event_type="leg_status", last_error="boom")
            assert locked_leg.status == current

    leg.refresh_from_db()
    events = list(PaymentEvent.objects.filter(split_id=leg.split.payment_hash))
    if allowed:
        assert leg.status == target
        assert leg.last_error == "boom"
        assert leg.updated_at > before
        (event,) = events
        assert (event.event_type, event.from_status, event.to_status) == ("leg_status", current, target)
        assert event.leg_id == leg.pk
        assert event.event_data == {"leg_id": leg.pk, "code": "X"}
    else:
        assert leg.status == current
        assert leg.last_error == ""
        assert leg.updated_at == before
        assert events == []


@pytest.mark.django_db
def test_leg_transition_without_event_type_writes_no_event() -> None:
    leg = PaymentLegFactory(status=LegStatus.PLANNED)
    with transaction.atomic():
        transition_leg(leg, LegStatus.INVOICE_READY, event_type=None, payment_request="lnbc1p")
    leg.refresh_from_db()
    assert leg.status == LegStatus.INVOICE_READY
    assert not PaymentEvent.objects.exists()


@pytest.mark.django_db
def test_lock_split_returns_none_for_unknown_rows() -> None:
    with transaction.atomic():
        assert lock_split(payment_hash="00" * 32) is None
        assert lock_split(split_id=-1) is None
        assert lock_split() is None


@pytest.mark.django_db
def test_lock_legs_returns_the_splits_legs_in_id_order() -> None:
    split = PaymentSplitFactory()
    legs = [PaymentLegFactory(split=split, recipient_wallet_id=f"w{i}", amount=1) for i in range(3)]
    PaymentLegFactory()  # another split's leg
    with transaction.atomic():
        assert [leg.pk for leg in lock_legs(split)] == sorted(leg.pk for leg in legs)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("operation", ["lock_split", "lock_legs", "transition_split", "transition_leg"])
def test_state_changes_outside_a_transaction_are_refused(operation: str) -> None:
    leg = PaymentLegFactory(status=LegStatus.PLANNED)
    split = leg.split
    calls = {
        "lock_split": lambda: lock_split(payment_hash=split.payment_hash),
        "lock_legs": lambda: lock_legs(split),
        "transition_split": lambda: transition_split(split, SplitStatus.PAID, event_type="paid"),
        "transition_leg": lambda: transition_leg(leg, LegStatus.INVOICE_READY, event_type="leg_status"),
    }

    with pytest.raises(RuntimeError, match=r"transaction\.atomic"):
        calls[operation]()

    split.refresh_from_db()
    leg.refresh_from_db()
    assert (split.status, leg.status) == (SplitStatus.PENDING, LegStatus.PLANNED)
    assert not PaymentEvent.objects.exists()


@pytest.mark.django_db
def test_after_commit_an_active_split_is_written_to_the_hot_store(django_capture_on_commit_callbacks: Any) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PENDING)
    paid_at = timezone.now()

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.PAID, event_type="paid", paid_at=paid_at)
        # nothing reaches Redis before the commit
        assert _redis().get(store.tip_key(split.payment_hash)) is None

    document = json.loads(_redis().get(store.tip_key(split.payment_hash)))
    assert document["status"] == "paid"
    assert document["paidAt"] == paid_at.isoformat()


@pytest.mark.django_db
def test_after_commit_a_completed_split_is_evicted(django_capture_on_commit_callbacks: Any) -> None:
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING)
    store.put(split)
    assert _redis().exists(store.tip_key(split.payment_hash)) == 1

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.COMPLETED, event_type="completed", processed_at=timezone.now())

    assert _redis().exists(store.tip_key(split.payment_hash)) == 0
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transition_leaves_redis_and_postgres_untouched() -> None:
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING)
    store.put(split)

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.COMPLETED, event_type="completed")
        1 / 0  # noqa: B018 (a failure after the transition, before commit)

    split.refresh_from_db()
    assert split.status == SplitStatus.PROCESSING
    assert not PaymentEvent.objects.exists()
    assert json.loads(_redis().get(store.tip_key(split.payment_hash)))["status"] == "processing"


@pytest.mark.django_db(transaction=True)
def test_a_committed_transition_syncs_redis_for_real() -> None:
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING)
    store.put(split)

    with transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.COMPLETED, event_type="completed")

    assert _redis().exists(store.tip_key(split.payment_hash)) == 0


@pytest.mark.django_db
def test_a_second_terminal_event_through_a_transition_is_an_integrity_error() -> None:
    """Re-running a completion (a bug, not a retry) cannot write a second ``completed`` event."""
    split = PaymentSplitFactory(status=SplitStatus.PROCESSING)
    record_event(split, "completed")
    with pytest.raises(IntegrityError), transaction.atomic():
        locked = lock_split(payment_hash=split.payment_hash)
        assert locked is not None
        transition_split(locked, SplitStatus.COMPLETED, event_type="completed")
    split.refresh_from_db()
    assert split.status == SplitStatus.PROCESSING
