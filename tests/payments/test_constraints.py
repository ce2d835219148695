"""PostgreSQL itself refuses every row that breaks a money rule, whatever code writes it.

Each test writes one bad row inside a savepoint and expects the database (not Django validation) to
reject it, naming the constraint or the trigger's reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from payments.models import PaymentEvent, PaymentSplit, SplitProfileShare
from payments.models.events import MONEY_EVENT_TYPES, TERMINAL_EVENT_TYPES
from payments.services.transitions import record_event
from tests.factories import (
    PaymentLegFactory,
    PaymentSplitFactory,
    SplitProfileFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


def _set_constraints_immediate() -> None:
    """Fire the deferred constraint triggers now instead of at commit (the test transaction never commits)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# --- payment_splits ------------------------------------------------------------------------------

BAD_SPLITS: list[tuple[dict[str, Any], str]] = [
    ({"base_amount": -1, "tip_amount": 101, "total_amount": 100}, "split_base_nonnegative"),
    ({"base_amount": 101, "tip_amount": -1, "total_amount": 100}, "split_tip_nonnegative"),
    ({"base_amount": 0, "tip_amount": 0, "total_amount": 0}, "split_total_positive"),
    ({"base_amount": 1000, "tip_amount": 150, "total_amount": 1149}, "split_amounts_conserve"),
    ({"base_amount": 1000, "tip_amount": 150, "total_amount": 1151}, "split_amounts_conserve"),
    ({"tip_percent": Decimal("101")}, "split_tip_percent_range"),
    ({"tip_percent": Decimal("100.01")}, "split_tip_percent_range"),
    ({"tip_percent": Decimal("-1")}, "split_tip_percent_range"),
    ({"received_amount": -1}, "split_received_nonnegative"),
    ({"status": "refunded"}, "split_status_valid"),
    ({"status": ""}, "split_status_valid"),
]


@pytest.mark.parametrize(("fields", "constraint"), BAD_SPLITS, ids=[c for _, c in BAD_SPLITS])
def test_split_check_constraints_reject_bad_rows(fields: dict[str, Any], constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        PaymentSplitFactory(**fields)
    assert not PaymentSplit.objects.exists()


@pytest.mark.parametrize("tip_percent", [Decimal("0"), Decimal("100"), Decimal("12.34"), None])
def test_split_tip_percent_bounds_are_inclusive(tip_percent: Decimal | None) -> None:
    split = PaymentSplitFactory(tip_percent=tip_percent)
    split.refresh_from_db()
    assert split.tip_percent == tip_percent


def test_duplicate_payment_hash_is_refused() -> None:
    first = PaymentSplitFactory()
    with pytest.raises(IntegrityError, match="payment_hash"), transaction.atomic():
        PaymentSplitFactory(payment_hash=first.payment_hash, merchant=first.merchant)
    assert PaymentSplit.objects.filter(payment_hash=first.payment_hash).count() == 1


def test_duplicate_external_id_is_refused() -> None:
    first = PaymentSplitFactory()
    with pytest.raises(IntegrityError, match="external_id"), transaction.atomic():
        PaymentSplitFactory(external_id=first.external_id, merchant=first.merchant)


# --- payment_legs --------------------------------------------------------------------------------


def test_second_leg_for_same_recipient_is_refused() -> None:
    leg = PaymentLegFactory(amount=600)
    with pytest.raises(IntegrityError, match="leg_unique_recipient"), transaction.atomic():
        PaymentLegFactory(split=leg.split, recipient_wallet_id=leg.recipient_wallet_id, amount=550, kind="tip")
    assert leg.split.legs.count() == 1


def test_same_recipient_on_another_split_is_allowed() -> None:
    leg = PaymentLegFactory()
    other = PaymentLegFactory(recipient_wallet_id=leg.recipient_wallet_id)
    assert other.pk != leg.pk


BAD_LEGS: list[tuple[dict[str, Any], str]] = [
    ({"amount": 0}, "leg_amount_positive"),
    ({"amount": -1}, "leg_amount_positive"),
    ({"status": "paid"}, "leg_status_valid"),
    ({"kind": "bonus"}, "leg_kind_valid"),
    ({"fee_sats": -1}, "leg_fee_nonnegative"),
]


@pytest.mark.parametrize(("fields", "constraint"), BAD_LEGS, ids=[f"{c}-{next(iter(f.values()))}" for f, c in BAD_LEGS])
def test_leg_check_constraints_reject_bad_rows(fields: dict[str, Any], constraint: str) -> None:
    split = PaymentSplitFactory()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        PaymentLegFactory(split=split, **fields)
    assert not split.legs.exists()


# --- split profile weights (deferred constraint trigger) -----------------------------------------


@pytest.mark.parametrize("weights", [[9_999], [5_000, 4_999], [3_333, 3_333, 3_333], [6_000, 4_001]])
def test_split_profile_weights_must_sum_to_10000(weights: list[int]) -> None:
    profile = SplitProfileFactory()
    with pytest.raises(IntegrityError, match=rf"weights sum to {sum(weights)} basis points"), transaction.atomic():
        for weight in weights:
            _share(profile, weight)
        _set_constraints_immediate()
    assert not SplitProfileShare.objects.filter(profile=profile).exists()


@pytest.mark.parametrize("weights", [[10_000], [5_000, 5_000], [3_334, 3_333, 3_333]])
def test_split_profile_weights_summing_to_10000_are_accepted(weights: list[int]) -> None:
    profile = SplitProfileFactory()
    with transaction.atomic():
        for weight in weights:
            _share(profile, weight)
        _set_constraints_immediate()
    assert sum(profile.shares.values_list("weight_bps", flat=True)) == 10_000


def test_split_profile_can_be_rewritten_inside_one_transaction() -> None:
    """The check is deferred: a 10 000 → 5 000 + 5 000 rewrite passes through invalid sums mid-way."""
    profile = SplitProfileFactory()
    solo = _share(profile, 10_000)
    _set_constraints_immediate()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        solo.weight_bps = 5_000
        solo.save(update_fields=["weight_bps"])
        _share(profile, 5_000)
        _set_constraints_immediate()
    assert sorted(profile.shares.values_list("weight_bps", flat=True)) == [5_000, 5_000]


def test_deleting_one_share_of_a_full_profile_is_refused() -> None:
    profile = SplitProfileFactory()
    first = _share(profile, 6_000)
    _share(profile, 4_000)
    _set_constraints_immediate()
    with pytest.raises(IntegrityError, match="weights sum to 4000"), transaction.atomic():
        first.delete()
        _set_constraints_immediate()
    assert profile.shares.count() == 2


@pytest.mark.parametrize("weight", [0, 10_001])
def test_share_weight_out_of_range_is_refused(weight: int) -> None:
    profile = SplitProfileFactory()
    with pytest.raises(IntegrityError, match="split_share_weight_range"), transaction.atomic():
        _share(profile, weight)


def _share(profile: Any, weight: int) -> SplitProfileShare:
    staff = StaffFactory(merchant=profile.merchant)
    return SplitProfileShare.objects.create(profile=profile, staff=staff, weight_bps=weight)


# --- payment_events (append-only trigger, terminal events once) -----------------------------------


def _event(event_type: str) -> PaymentEvent:
    split = PaymentSplitFactory()
    return record_event(split, event_type, {"note": "test"})


@pytest.mark.parametrize("event_type", ["created", "leg_sent", "note"])
def test_event_update_is_refused(event_type: str) -> None:
    event = _event(event_type)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        PaymentEvent.objects.filter(pk=event.pk).update(event_data={"tampered": True})
    event.refresh_from_db()
    assert event.event_data == {"note": "test"}


@pytest.mark.parametrize("event_type", MONEY_EVENT_TYPES)
def test_money_event_delete_is_refused(event_type: str) -> None:
    event = _event(event_type)
    with (
        pytest.raises(IntegrityError, match=f"money event {event_type} .* is never deleted"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM payment_events WHERE id = %s", [event.pk])
    assert PaymentEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("event_type", ["note", "hotstore_rewarmed", "status_checked"])
def test_non_money_event_delete_is_allowed(event_type: str) -> None:
    event = _event(event_type)
    with transaction.atomic():
        deleted, _ = PaymentEvent.objects.filter(pk=event.pk).delete()
    assert deleted == 1
    assert not PaymentEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("event_type", TERMINAL_EVENT_TYPES)
def test_second_terminal_event_for_a_payment_is_refused(event_type: str) -> None:
    split = PaymentSplitFactory()
    record_event(split, event_type)
    with pytest.raises(IntegrityError, match="event_terminal_once_per_payment"), transaction.atomic():
        record_event(split, event_type)
    assert split.events.filter(event_type=event_type).count() == 1


def test_terminal_event_on_another_payment_and_repeated_non_terminal_events_are_allowed() -> None:
    first, second = PaymentSplitFactory(), PaymentSplitFactory()
    record_event(first, "completed")
    record_event(second, "completed")
    record_event(first, "leg_sent")
    record_event(first, "leg_sent")
    assert first.events.count() == 3
    assert second.events.count() == 1


@pytest.mark.parametrize("event_type", ["leg_succeeded", "leg_resolved"])
def test_leg_completion_event_is_recorded_once_per_leg(event_type: str) -> None:
    leg = PaymentLegFactory()
    record_event(leg.split, event_type, leg=leg)
    with pytest.raises(IntegrityError, match="event_leg_completion_once"), transaction.atomic():
        record_event(leg.split, event_type, leg=leg)
    assert leg.events.count() == 1


# --- pay codes and tip-only splits (payments/models/paycodes.py, PaymentSplit.kind) -------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "tip_only", "base_amount": 100, "tip_amount": 50},  # a tip alone has no base
        {"kind": "tip_only", "base_amount": 0, "tip_amount": 0, "total_amount": 0},
        {"kind": "gift"},
    ],
)
def test_split_kind_rules_are_enforced_by_postgres(changes: dict) -> None:
    from tests.factories import PaymentSplitFactory

    split = PaymentSplitFactory()
    fields = {**changes}
    fields.setdefault(
        "total_amount", fields.get("base_amount", split.base_amount) + fields.get("tip_amount", split.tip_amount)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        type(split).objects.filter(pk=split.pk).update(**fields)


@pytest.mark.django_db
def test_only_a_tip_only_split_may_follow_a_sale() -> None:
    from tests.factories import PaymentSplitFactory

    sale = PaymentSplitFactory()
    tip = PaymentSplitFactory(merchant=sale.merchant, kind="tip_only", base_amount=0, tip_amount=30, tip_for=sale)
    assert tip.tip_for_id == sale.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentSplitFactory(merchant=sale.merchant, kind="sale", tip_for=sale)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "staff"},  # a staff code without its staff member
        {"kind": "merchant", "username": "Upper"},
        {"kind": "merchant", "username": "has space"},
        {"kind": "merchant", "min_sendable_sats": 0},
        {"kind": "merchant", "min_sendable_sats": 10, "max_sendable_sats": 5},
    ],
)
def test_pay_code_rules_are_enforced_by_postgres(fields: dict) -> None:
    from payments.models import PayCode
    from tests.factories import MerchantFactory

    merchant = MerchantFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PayCode.objects.create(merchant=merchant, **{"username": "ok", **fields})
