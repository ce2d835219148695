"""payments/prepared.py and payments/services/row_sql.py: statements compiled once give the same objects
and rows as the ORM."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Value
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from payments import selectors
from payments.models import PaymentLeg, PaymentSplit, SplitProfileShare, Terminal
from payments.models.splits import LegStatus, SplitStatus
from payments.prepared import PreparedQuery
from payments.services.row_sql import insert_rows
from tests.factories import (
    MerchantFactory,
    PaymentSplitFactory,
    SplitProfileFactory,
    SplitProfileShareFactory,
    StaffFactory,
    TerminalFactory,
    random_hash,
)

pytestmark = pytest.mark.django_db


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_terminal_with_merchant_matches_the_orm_and_loads_the_merchant_in_the_same_query() -> None:
    terminal = TerminalFactory(merchant=MerchantFactory(display_currency="EUR"))
    reference = Terminal.objects.select_related("merchant").get(pk=terminal.pk)
    with CaptureQueriesContext(connection) as queries:
        found = selectors.terminal_with_merchant(terminal_id=terminal.pk)
        assert found is not None
        merchant = found.merchant
    assert len(queries) == 1
    assert _fields(found) == _fields(reference)
    assert _fields(merchant) == _fields(reference.merchant)
    assert found._state.adding is False and found._state.db == "default"
    assert selectors.terminal_with_merchant(terminal_id=terminal.pk + 1000) is None


def test_profile_shares_match_the_orm_in_order_and_respect_merchant_and_active() -> None:
    merchant = MerchantFactory()
    profile = SplitProfileFactory(merchant=merchant)
    shares = [
        SplitProfileShareFactory(profile=profile, staff=StaffFactory(merchant=merchant), weight_bps=w)
        for w in (5000, 3000, 2000)
    ]
    found = selectors.split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=profile.pk)
    assert found is not None
    got_profile, got_shares = found
    assert [s.pk for s in got_shares] == sorted(s.pk for s in shares)
    reference = SplitProfileShare.objects.select_related("staff").filter(profile=profile).order_by("pk")
    for got, ref in zip(got_shares, reference, strict=True):
        assert _fields(got) == _fields(ref)
        assert _fields(got.staff) == _fields(ref.staff)
        assert got.profile is got_profile
    assert _fields(got_profile) == _fields(profile)
    other = MerchantFactory()
    assert selectors.split_profile_with_shares_for_merchant(merchant_id=other.pk, profile_id=profile.pk) is None
    profile.is_active = False
    profile.save(update_fields=["is_active"])
    assert selectors.split_profile_with_shares_for_merchant(merchant_id=merchant.pk, profile_id=profile.pk) is None


def test_slots_are_checked() -> None:
    query = PreparedQuery(Terminal, lambda terminal_id: Terminal.objects.filter(pk=terminal_id), "terminal_id")
    with pytest.raises(TypeError):
        query.fetch(other=1)
    unused = PreparedQuery(Terminal, lambda terminal_id: Terminal.objects.filter(pk=1), "terminal_id")
    with pytest.raises(ValueError, match="appears 0 times"):
        unused.fetch(terminal_id=1)


def _split_values() -> dict[str, Any]:
    merchant = MerchantFactory()
    return {
        "merchant": merchant,
        "external_id": uuid.uuid4().hex,
        "user_wallet_id": merchant.wallet_id,
        "username": merchant.blink_username,
        "base_amount": 1000,
        "tip_amount": 150,
        "total_amount": 1150,
        "invoice_satoshis": 1150,
        "tip_percent": Decimal("15.00"),
        "sats_per_unit": Decimal("1234.5678"),
        "status": SplitStatus.PENDING,
        "expires_at": timezone.now() + timedelta(minutes=15),
        "metadata": {"amount_input": "sats", "price": {"base": 1, "offset": 0}},
        "memo": "coffee ☕",
    }


def test_insert_rows_writes_the_row_create_writes() -> None:
    values = _split_values()
    by_orm = PaymentSplit.objects.create(payment_hash=random_hash(), **values)
    ours = PaymentSplit(payment_hash=random_hash(), **{**values, "external_id": uuid.uuid4().hex})
    assert insert_rows([ours]) == [ours]
    assert ours.pk is not None and ours._state.adding is False and ours._state.db == "default"
    stored_orm = model_to_dict(PaymentSplit.objects.get(pk=by_orm.pk))
    stored_ours = model_to_dict(PaymentSplit.objects.get(pk=ours.pk))
    for name in ("id", "payment_hash", "external_id", "created_at", "updated_at"):
        stored_orm.pop(name, None)
        stored_ours.pop(name, None)
    assert stored_ours == stored_orm
    assert PaymentSplit.objects.get(pk=ours.pk).created_at is not None  # auto_now_add went through pre_save


def _legs(split: PaymentSplit, count: int) -> list[PaymentLeg]:
    return [
        PaymentLeg(
            split=split,
            external_id=uuid.uuid4().hex,
            kind="tip" if i else "merchant",
            recipient_username=f"person{i}",
            recipient_wallet_id=str(uuid.uuid4()),
            amount=100 * (i + 1),
            weight_bps=2500,
            status=LegStatus.PLANNED,
        )
        for i in range(count)
    ]


def test_several_rows_go_in_one_statement_in_order_with_their_ids() -> None:
    split = PaymentSplitFactory()
    legs = _legs(split, 4)
    with CaptureQueriesContext(connection) as queries:
        insert_rows(legs)
    assert len(queries) == 1 and "jsonb_populate_recordset" in queries[0]["sql"]
    stored = {leg.pk: leg for leg in PaymentLeg.objects.filter(split=split)}
    assert [stored[leg.pk].amount for leg in legs] == [100, 200, 300, 400]
    reference = PaymentLeg.objects.bulk_create(_legs(PaymentSplitFactory(), 4))
    for ours, ref in zip(legs, reference, strict=True):
        a = model_to_dict(
            PaymentLeg.objects.get(pk=ours.pk), exclude=["id", "split", "external_id", "recipient_wallet_id"]
        )
        b = model_to_dict(
            PaymentLeg.objects.get(pk=ref.pk), exclude=["id", "split", "external_id", "recipient_wallet_id"]
        )
        assert a == b


def test_json_rows_keep_times_to_the_microsecond_and_odd_text() -> None:
    split = PaymentSplitFactory()
    legs = _legs(split, 3)
    moment = timezone.now().replace(microsecond=123456)
    legs[0].next_attempt_at = moment
    legs[1].recipient_username = 'quote\' "double" \\ back ☕ \n'
    legs[2].last_error = "x" * 5000
    insert_rows(legs)
    stored = {leg.pk: leg for leg in PaymentLeg.objects.filter(split=split)}
    assert stored[legs[0].pk].next_attempt_at == moment
    assert stored[legs[1].pk].recipient_username == legs[1].recipient_username
    assert stored[legs[2].pk].last_error == "x" * 5000
    assert stored[legs[1].pk].next_attempt_at is None


def test_several_rows_with_a_json_field_go_as_values() -> None:
    first = PaymentSplit(payment_hash=random_hash(), **_split_values())
    second = PaymentSplit(payment_hash=random_hash(), **_split_values())
    with CaptureQueriesContext(connection) as queries:
        insert_rows([first, second])
    assert len(queries) == 1 and "VALUES" in queries[0]["sql"]
    for split in (first, second):
        stored = PaymentSplit.objects.get(pk=split.pk)
        assert stored.metadata == split.metadata and stored.sats_per_unit == Decimal("1234.5678")


def test_an_expression_value_falls_back_to_bulk_create_and_mixed_models_are_refused() -> None:
    split = PaymentSplitFactory()
    legs = _legs(split, 2)
    legs[1].amount = Value(777)
    insert_rows(legs)
    assert sorted(PaymentLeg.objects.filter(split=split).values_list("amount", flat=True)) == [100, 777]
    assert insert_rows([]) == []
    with pytest.raises(TypeError):
        insert_rows([*_legs(split, 1), PaymentSplit(payment_hash=random_hash(), **_split_values())])
