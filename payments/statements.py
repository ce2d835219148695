"""Cursors that run the hot paths' fixed statements as PostgreSQL prepared statements (issue 22).

Django's psycopg backend binds parameters on the client (the values are quoted into the SQL text) and
disables psycopg's prepared statements, so PostgreSQL parses, analyses and plans every statement
afresh. For the money path's few fixed statements, run thousands of times a minute, that work is
most of PostgreSQL's CPU: the create's two reads spent ~0.11 ms each planning against ~0.05
executing, and quoting ~45 values into an INSERT costs the web process as much again.

``statement_cursor`` gives a Django cursor (the same error wrapping, ``execute_wrappers`` and query
log as ``connection.cursor()``) over a psycopg *server-binding* cursor that prepares each statement on
its connection the first time it runs there, then only sends the values (``prepare=True``: psycopg
keeps up to ``prepared_max`` statements per connection and drops the least used). Django's own cursors
are unchanged (they bind on the client, which never prepares). Only for SQL
compiled once per process (``payments/prepared.py``, ``payments/services/row_sql.py``) and the hot
paths' constant statements: a statement text built per call would fill that cache.

``DB_PREPARED_STATEMENTS = False`` (environment: ``DB_PREPARED_STATEMENTS=false``) turns it off, e.g.
behind a transaction-pooling proxy without protocol-level prepared statements (PgBouncer before
1.21, or without ``max_prepared_statements``): those cursors are then ``connection.cursor()``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from psycopg.pq import Format
from psycopg.types.numeric import Int8Dumper

_TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# Django opens connections with psycopg's automatic preparation off (prepare_threshold None), which
# also refuses an explicit ``prepare=True``. A threshold no statement reaches prepares exactly what is
# asked for; Django's own cursors bind on the client and never prepare whatever the threshold.
_ONLY_WHEN_ASKED = 2**31 - 1


class _PreparingCursor(psycopg.Cursor[Any]):
    """A server-binding cursor that asks psycopg to prepare every statement it runs.

    Its Python ints are sent as ``bigint``: psycopg otherwise types each one by its size (``smallint``
    for 5, ``integer`` for 100 000), and a prepared statement is kept per statement AND parameter
    types, so one INSERT would be prepared again for every mix of small and large amounts."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        super().__init__(connection)
        self.adapters.register_dumper(int, Int8Dumper)

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class _PreparedDebugWrapper(CursorDebugWrapper):
    """The query log's wrapper (DEBUG, ``CaptureQueriesContext``) for those cursors: it logs the
    statement as written, since psycopg keeps no text of a prepared statement's run for Django's
    ``last_executed_query``."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def enabled(connection: BaseDatabaseWrapper) -> bool:
    return bool(getattr(settings, "DB_PREPARED_STATEMENTS", True)) and connection.vendor == "postgresql"


def statement_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor for a fixed statement on ``connection`` (use it as a context manager, as
    ``connection.cursor()``): prepared on first use per database connection when enabled."""
    if not enabled(connection):
        return connection.cursor()
    # What BaseDatabaseWrapper._cursor and the PostgreSQL backend's create_cursor do, with our class.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        if connection.connection.prepare_threshold is None:
            connection.connection.prepare_threshold = _ONLY_WHEN_ASKED
        raw = _PreparingCursor(connection.connection)
        loader = connection.connection.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT)
        if connection.timezone != getattr(loader, "timezone", None):
            register_tzloader(connection.timezone, raw)
    # As connection.cursor(): the thread-sharing check, then the query log's wrapper or the plain one.
    connection.validate_thread_sharing()
    if connection.queries_logged:
        return _PreparedDebugWrapper(raw, connection)
    return CursorWrapper(raw, connection)
