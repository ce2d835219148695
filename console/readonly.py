"""One way the console reads PostgreSQL with SQL of its own: inside a READ ONLY transaction with a
statement timeout, always rolled back.

``SET TRANSACTION READ ONLY`` makes PostgreSQL itself refuse any write (error 25006), whatever the SQL
says; ``set_config('statement_timeout', ..., true)`` is ``SET LOCAL``: it ends with the transaction.
The block is always rolled back, so inside an outer transaction (a savepoint) neither setting leaks
into the caller's transaction, and nothing a query did could be kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DatabaseError, connections, transaction

from blinkpos.db_router import read_alias

DEFAULT_TIMEOUT_MS = 5000

# SQLSTATEs PostgreSQL answers with; psycopg's errors carry them as ``sqlstate``.
READ_ONLY_VIOLATION = "25006"
QUERY_CANCELED = "57014"


class ReadOnlyQueryError(Exception):
    """A console query failed; ``message`` is safe to show an operator."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None)


def read_only_rows(
    sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> list[dict[str, Any]]:
    """Rows of ``read_only_query`` as dicts."""
    columns, rows = read_only_query(sql, params, timeout_ms=timeout_ms)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def read_only_query(
    sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SELECT read-only with a timeout; its column names and rows.

    Raises ``ReadOnlyQueryError`` with code ``read_only`` (the SQL tried to write), ``timeout`` (it ran
    longer than ``timeout_ms``) or ``database`` (any other database error)."""
    alias = read_alias()  # a replica when the caller asked for one (blinkpos/db_router.py)
    try:
        with transaction.atomic(using=alias):
            try:
                with connections[alias].cursor() as cursor:
                    cursor.execute("SET TRANSACTION READ ONLY")
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(timeout_ms))])
                    cursor.execute(sql, params)
                    names = [column.name for column in cursor.description or []]
                    return names, [tuple(row) for row in cursor.fetchall()]
            finally:
                transaction.set_rollback(True, using=alias)
    except DatabaseError as exc:
        state = _sqlstate(exc)
        if state == READ_ONLY_VIOLATION:
            raise ReadOnlyQueryError(
                "Refused: reports are read-only and this one tried to write.", code="read_only"
            ) from exc
        if state == QUERY_CANCELED:
            seconds = timeout_ms / 1000
            raise ReadOnlyQueryError(
                f"The query ran longer than its {seconds:g} s limit and was stopped. Narrow it (a shorter period, "
                "one merchant) and run it again.",
                code="timeout",
            ) from exc
        raise ReadOnlyQueryError(f"The database refused the query ({type(exc).__name__}).", code="database") from exc
