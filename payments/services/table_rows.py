"""Counting and batch-deleting rows of a table by a constant predicate, for retention jobs
(``maintenance.old_data_cleanup``, ``event_partitions``). Table names and predicates are the
callers' constants, never user input."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction


def count_rows(table: str, where: str = "TRUE", params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT COUNT(*) FROM "{table}" WHERE {where}', params or [])  # noqa: S608 - constants only
        return int(cursor.fetchone()[0])


def delete_in_batches(table: str, where: str, params: list[Any], batch_size: int) -> int:
    """Delete matching rows ``batch_size`` at a time, one short transaction per batch. SKIP LOCKED keeps
    a concurrent run from waiting on (or deadlocking with) this one: each row is deleted once."""
    sql = (
        f'DELETE FROM "{table}" WHERE id IN '  # noqa: S608 - table and predicate are constants
        f'(SELECT id FROM "{table}" WHERE {where} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)'
    )
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, batch_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            return total
