"""payments.statements: the hot paths' fixed statements run as prepared statements on their connection,
with Django's error mapping and query log intact, and a switch that turns it off."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from payments.models import Merchant
from payments.prepared import values_rows
from payments.statements import statement_cursor
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db

_PROBE = "SELECT id, name FROM merchants WHERE id = %s"


def _prepared_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _run_probe(pk: int) -> list[tuple[Any, ...]]:
    with statement_cursor(connection) as cursor:
        cursor.execute(_PROBE, [pk])
        return list(cursor.fetchall())


def test_a_fixed_statement_is_prepared_on_its_connection_and_answers_like_the_orm() -> None:
    merchant = MerchantFactory(name="Corner café")
    assert _run_probe(merchant.pk) == [(merchant.pk, "Corner café")]
    assert _run_probe(merchant.pk) == [(merchant.pk, "Corner café")]
    # PostgreSQL holds it once, with the values as parameters ($1), not quoted into the text
    assert [text for text in _prepared_texts() if "FROM merchants WHERE id = $1" in text] == [
        "SELECT id, name FROM merchants WHERE id = $1"
    ]


def test_one_prepared_statement_whatever_the_size_of_its_integers() -> None:
    merchant = MerchantFactory()
    with statement_cursor(connection) as cursor:
        for value in (merchant.pk, 40_000, 5_000_000_000):  # smallint, integer and bigint sizes
            cursor.execute("SELECT id FROM merchants WHERE id = %s", [value])
            assert cursor.fetchall() == ([(merchant.pk,)] if value == merchant.pk else [])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameter_types::text FROM pg_prepared_statements WHERE statement = %s",
            ["SELECT id FROM merchants WHERE id = $1"],
        )
        assert cursor.fetchall() == [("{bigint}",)]


def test_the_switch_off_runs_the_same_statement_unprepared(settings: Any) -> None:
    settings.DB_PREPARED_STATEMENTS = False
    merchant = MerchantFactory()
    assert _run_probe(merchant.pk) == [(merchant.pk, merchant.name)]
    assert not [text for text in _prepared_texts() if "FROM merchants WHERE id" in text]


def test_errors_are_djangos_and_the_transaction_rolls_back() -> None:
    merchant = MerchantFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), statement_cursor(connection) as cursor:
        cursor.execute("UPDATE merchants SET name = %s WHERE id = %s", ["renamed", merchant.pk])
        cursor.execute("INSERT INTO merchants (id) VALUES (%s)", [merchant.pk])  # duplicate key, NOT NULLs
    merchant.refresh_from_db()
    assert merchant.name != "renamed"


def test_statements_are_in_the_query_log_and_the_execute_wrappers() -> None:
    merchant = MerchantFactory()
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(wrapper):
        rows = values_rows("test-merchant-name", lambda pk: Merchant.objects.filter(pk=pk).values_list("name"),
                           merchant.pk, using="default")  # fmt: skip
    assert rows == [(merchant.name,)]
    assert len(seen) == 1 and "merchants" in seen[0]
    assert len(captured.captured_queries) == 1 and "merchants" in captured.captured_queries[0]["sql"]
