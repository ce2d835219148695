"""Row writes with their SQL built once per process (issue 22: the create's and the forward's CPU);
their reads: payments/prepared.py.

Django compiles an INSERT or UPDATE afresh on every ``create()`` / ``save(update_fields=...)``: about a
millisecond of CPU each for our wide rows, and a sale writes a dozen. The statements here are built
once from the model's own fields, and the values go through each field's own ``pre_save``
(``auto_now``/``auto_now_add``) and ``get_db_prep_save`` (JSON, decimals), as the ORM's do; for plain
text, integer, boolean and aware datetime values a shortcut gives the same result without the
method chain (checked against the field itself when built; tests/payments/services/test_row_sql_prepare.py).

Only for models without save hooks or signal receivers (the state machine's splits, legs and events
have none): what the ORM adds on top of the SQL (``pre_save``/``post_save`` signals) is nothing for
them. A value that is an SQL expression (``db_default`` without a Python default) makes ``insert_rows``
fall back to ``bulk_create``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from django.db import DatabaseError, connections, router
from django.db import models as m
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model

from payments.statements import statement_cursor

M = TypeVar("M", bound=Model)

# --- preparing values -------------------------------------------------------------------------------
# ``get_db_prep_save`` walks several methods per value (to_python, get_prep_value, the backend's
# adapt_*), ~130 times per create. For Django's own plain field classes and values of the exact types
# below its result is the value itself, or an int wrapped in the backend's integer type: that shortcut
# is taken, and only after it gave exactly the field's own answer (value and type) on probe values when
# first built, so a Django upgrade or a field that prepares differently simply keeps the slow path.
_SHORTCUT_CLASSES = (
    m.CharField, m.TextField, m.SlugField, m.EmailField, m.URLField, m.BooleanField, m.DateTimeField,
    m.IntegerField, m.BigIntegerField, m.SmallIntegerField, m.PositiveIntegerField,
    m.PositiveBigIntegerField, m.PositiveSmallIntegerField, m.AutoField, m.BigAutoField, m.SmallAutoField,
)  # fmt: skip
_NONE = type(None)
_PROBES: dict[type, tuple[Any, ...]] = {
    str: ("", "x", "caf\u00e9"),
    int: (0, 7, -3, 2**40),
    bool: (False, True),
    datetime: (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),),
    _NONE: (None,),
}


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Shortcut:
    types: frozenset[type]
    convert: Callable[[Any], Any]  # value -> what get_db_prep_save gives for it


def _shortcut(field: Any, connection: BaseDatabaseWrapper) -> _Shortcut | None:
    target = field.target_field if field.is_relation else field
    if field.is_relation and type(field) not in (m.ForeignKey, m.OneToOneField):
        return None
    if type(target) not in _SHORTCUT_CLASSES or connection.vendor != "postgresql":
        return None
    internal = target.get_internal_type()
    types: tuple[type, ...]
    convert: Callable[[Any], Any]
    if isinstance(target, m.BooleanField):
        types, convert = (bool,), _same
    elif isinstance(target, m.DateTimeField):
        types, convert = (datetime,), _same  # aware values only (checked per value)
    elif isinstance(target, m.CharField | m.TextField):
        types, convert = (str,), _same
    else:  # the integer fields; the backend may send each as its own integer type
        wrap = getattr(connection.ops, "integerfield_type_map", {}).get(internal)
        types, convert = (int,), (wrap or _same)

    def prepare(value: Any) -> Any:
        return None if value is None else convert(value)

    for kind in (*types, _NONE):
        for probe in _PROBES[kind]:
            expected, got = field.get_db_prep_save(probe, connection=connection), prepare(probe)
            if type(expected) is not type(got) or expected != got:
                return None
    return _Shortcut(types=frozenset((*types, _NONE)), convert=prepare)


def _prepared(field: Any, shortcut: _Shortcut | None, value: Any, connection: BaseDatabaseWrapper) -> Any:
    kind = type(value)
    if shortcut is not None and kind in shortcut.types and (kind is not datetime or value.tzinfo is not None):
        return shortcut.convert(value)
    return field.get_db_prep_save(value, connection=connection)


# (model, field names, database) -> (SQL, the fields in placeholder order)
_UPDATES: dict[tuple[type[Model], tuple[str, ...], str], tuple[str, list[tuple[Any, _Shortcut | None]]]] = {}


def update_fields(obj: Model, fields: Sequence[str]) -> None:
    """``obj.save(update_fields=fields)`` for a model without save signals: the same values (the fields'
    ``pre_save``, so ``auto_now`` fields named here are stamped), the same "no row updated" error."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    key = (model, tuple(fields), alias)
    built = _UPDATES.get(key)
    if built is None:
        quote = connection.ops.quote_name
        meta = model._meta
        chosen: list[Field[Any, Any]] = []
        for name in dict.fromkeys(fields):
            field = meta.get_field(name)
            assert isinstance(field, Field), name  # concrete columns only
            chosen.append(field)
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in chosen)
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        prepared = [(f, _shortcut(f, connection)) for f in chosen]
        built = (f"UPDATE {table} SET {assignments} WHERE {pk} = %s", prepared)  # noqa: S608 - the model's own names
        _UPDATES[key] = built
    sql, fields_of = built
    params = [_prepared(f, cut, f.pre_save(obj, False), connection) for f, cut in fields_of]
    params.append(obj.pk)
    with statement_cursor(connection) as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    obj._state.db = alias


# Field types whose prepared values JSON carries exactly (with ``_json_value``) and PostgreSQL casts
# back from JSON to the column's type unchanged.
_JSON_SAFE = frozenset(
    {
        "AutoField", "BigAutoField", "SmallAutoField", "BigIntegerField", "IntegerField", "SmallIntegerField",
        "PositiveBigIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField", "BooleanField",
        "CharField", "TextField", "EmailField", "SlugField", "URLField", "UUIDField", "DecimalField",
        "DateTimeField", "DateField",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Insert:
    sql: str
    fields: tuple[Any, ...]
    as_json: bool  # one JSON array parameter for all the rows; else one parameter per value
    shortcuts: tuple[_Shortcut | None, ...]


_INSERT_SQL: dict[tuple[type[Model], int, str], _Insert] = {}


def _json_safe(fields: Sequence[Any]) -> bool:
    return all((f.target_field if f.is_relation else f).get_internal_type() in _JSON_SAFE for f in fields)


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()  # aware datetimes keep their offset
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return value


def _insert_sql(model: type[Model], rows: int, alias: str) -> _Insert:
    """The INSERT for ``rows`` new rows of ``model``. Several rows of plain types go as ONE JSON
    parameter expanded by ``jsonb_populate_recordset`` (in order): psycopg binds parameters on the
    client and quotes each one in Python, and does not even cache its parse of a statement with more
    than 50 (4 legs x 29 columns); arrays per column (Django's UNNEST) cost as much again. Measured on
    4 legs: 0.36 CPU ms against 0.65 for either (issue 22)."""
    key = (model, rows, alias)
    found = _INSERT_SQL.get(key)
    if found is None:
        opts = model._meta
        connection = connections[alias]
        quote = connection.ops.quote_name
        fields = tuple(f for f in opts.concrete_fields if not f.generated and not (f.primary_key and f.auto_created))
        columns = ", ".join(quote(f.column) for f in fields)
        table = quote(opts.db_table)
        as_json = rows > 1 and _json_safe(fields)
        if as_json:
            source = f"SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)"  # noqa: S608 - names from the model's meta
        else:
            one = "(" + ", ".join(["%s"] * len(fields)) + ")"
            source = f"VALUES {', '.join([one] * rows)}"
        sql = f"INSERT INTO {table} ({columns}) {source} RETURNING {quote(opts.pk.column)}"
        shortcuts = tuple(_shortcut(f, connection) for f in fields)
        found = _Insert(sql=sql, fields=fields, as_json=as_json, shortcuts=shortcuts)
        _INSERT_SQL[key] = found
    return found


def insert_rows(objs: Sequence[M]) -> list[M]:
    """INSERT ``objs`` (new instances of one model with an auto primary key) in one statement; sets
    their primary keys and marks them saved. The same rows as ``bulk_create`` writes."""
    if not objs:
        return []
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    insert = _insert_sql(model, len(objs), alias)
    rows: list[list[Any]] = []
    for obj in objs:
        if type(obj) is not model:
            raise TypeError("insert_rows writes instances of one model")
        row = []
        for field, shortcut in zip(insert.fields, insert.shortcuts, strict=True):
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # a database default or expression: the ORM's way
                return model._default_manager.bulk_create(list(objs))
            row.append(_prepared(field, shortcut, value, connection))
        rows.append(row)
    if insert.as_json:
        columns = [field.column for field in insert.fields]
        document = [{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        params: list[Any] = [json.dumps(document)]
    else:
        params = [v for row in rows for v in row]
    with statement_cursor(connection) as cursor:
        cursor.execute(insert.sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
    return list(objs)
