"""The row writes' shortcut for preparing values (payments/services/row_sql.py) gives exactly what each
field's own ``get_db_prep_save`` gives (value and type), for any value, on every field of the models
the money path writes; and it is really taken for their plain columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.db import models as m
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.models import PaymentEvent, PaymentLeg, PaymentSplit, TipRecipientStats, WebhookDelivery
from payments.services.row_sql import _prepared, _shortcut

MODELS = (PaymentSplit, PaymentLeg, PaymentEvent, TipRecipientStats, WebhookDelivery)
FIELDS = [f for model in MODELS for f in model._meta.concrete_fields]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=40),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),  # naive: never the shortcut's
)


def _same(expected: Any, got: Any) -> bool:
    # psycopg's Jsonb wrapper has no equality of its own: its repr shows the wrapped value
    return type(expected) is type(got) and (expected == got or repr(expected) == repr(got))


@pytest.mark.parametrize("field", FIELDS, ids=[f"{f.model.__name__}.{f.name}" for f in FIELDS])
@settings(max_examples=30, deadline=None)
@given(value=VALUES)
def test_the_shortcut_prepares_every_value_as_the_field_itself_does(field: Any, value: Any) -> None:
    try:
        expected = field.get_db_prep_save(value, connection=connection)
    except Exception as exc:  # a value the field refuses (text in an integer column...): refused alike
        with pytest.raises(type(exc)):
            _prepared(field, _shortcut(field, connection), value, connection)
        return
    assert _same(expected, _prepared(field, _shortcut(field, connection), value, connection))


def test_the_plain_columns_of_a_sale_take_the_shortcut_and_the_others_do_not() -> None:
    def cut(model: type[m.Model], name: str) -> bool:
        return _shortcut(model._meta.get_field(name), connection) is not None

    # text, integers (sent as the backend's integer type), booleans, aware datetimes, foreign keys
    for model, name in [
        (PaymentSplit, "payment_hash"),
        (PaymentSplit, "total_amount"),
        (PaymentSplit, "merchant"),
        (PaymentSplit, "created_at"),
        (PaymentLeg, "amount"),
        (PaymentLeg, "split"),
        (PaymentEvent, "split"),  # a foreign key to the split's payment hash (text)
        (WebhookDelivery, "preimage_verified"),
    ]:
        assert cut(model, name), (model.__name__, name)
    # JSON and decimal columns keep the field's own preparation
    assert not cut(PaymentEvent, "event_data")
    aware = datetime(2026, 12, 1, tzinfo=UTC)
    field = PaymentSplit._meta.get_field("created_at")
    assert _prepared(field, _shortcut(field, connection), aware, connection) is aware
