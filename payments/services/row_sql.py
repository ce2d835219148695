"""The money path's row writes with their SQL built once per process (issue 22: worker CPU per leg).

Django compiles an INSERT or UPDATE afresh on every ``create()`` / ``save(update_fields=...)``: about
a millisecond of CPU each, and a forward writes a dozen rows per sale. The statements here are built
once from the model's own fields (the columns, and per column the field's ``pre_save`` and
``get_db_prep_save``, so ``auto_now`` stamps and JSON adaptation are exactly the ORM's) and reused.

Used only for the models of the state machine (splits, legs, their events), which have no signal
receivers: what the ORM would add on top of the SQL (``pre_save`` / ``post_save`` signals) is nothing
for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.db import DatabaseError, connections, router
from django.db.models import Field, Model, QuerySet
from django.db.models.sql.compiler import SQLCompiler

_M = TypeVar("_M", bound=Model)

# (model, field names) -> (SQL, the fields in placeholder order)
_UPDATES: dict[tuple[type[Model], tuple[str, ...]], tuple[str, list[Any]]] = {}
# (model, rows) -> SQL of a multi-row INSERT ... RETURNING the primary key
_INSERTS: dict[tuple[type[Model], int], str] = {}
_INSERT_FIELDS: dict[type[Model], list[Field[Any, Any]]] = {}


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def update_fields(obj: Model, fields: Sequence[str]) -> None:
    """``obj.save(update_fields=fields)`` for a model without save signals: the same values (the fields'
    ``pre_save``, so ``auto_now`` fields named here are stamped), the same "no row updated" error."""
    model = type(obj)
    key = (model, tuple(fields))
    built = _UPDATES.get(key)
    if built is None:
        meta = model._meta
        chosen: list[Field[Any, Any]] = []
        for name in dict.fromkeys(fields):
            field = meta.get_field(name)
            assert isinstance(field, Field), name  # concrete columns only
            chosen.append(field)
        assignments = ", ".join(f"{_qn(f.column)} = %s" for f in chosen)
        table, pk = _qn(meta.db_table), _qn(meta.pk.column)
        built = (f"UPDATE {table} SET {assignments} WHERE {pk} = %s", chosen)  # noqa: S608 - the model's own names
        _UPDATES[key] = built
    sql, chosen = built
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    params = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in chosen]
    params.append(obj.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    obj._state.db = alias


def _insert_fields(model: type[Model]) -> list[Field[Any, Any]]:
    fields = _INSERT_FIELDS.get(model)
    if fields is None:
        meta = model._meta
        fields = [f for f in meta.concrete_fields if not f.primary_key]
        _INSERT_FIELDS[model] = fields
    return fields


def insert_rows(objs: Sequence[Model]) -> None:
    """``create()`` for each of ``objs`` (all of one model with a database-generated primary key) in ONE
    multi-row INSERT; each object gets its primary key (RETURNING, in VALUES order) and ``pre_save``
    values (``auto_now_add``), as after ``create()``."""
    if not objs:
        return
    model = type(objs[0])
    fields = _insert_fields(model)
    key = (model, len(objs))
    sql = _INSERTS.get(key)
    meta = model._meta
    if sql is None:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        columns = ", ".join(_qn(f.column) for f in fields)
        table, pk = _qn(meta.db_table), _qn(meta.pk.column)
        values = ", ".join([row] * len(objs))
        sql = f"INSERT INTO {table} ({columns}) VALUES {values} RETURNING {pk}"  # noqa: S608 - the model's own names
        _INSERTS[key] = sql
    alias = router.db_for_write(model, instance=objs[0])
    connection = connections[alias]
    params: list[Any] = []
    for obj in objs:
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [r[0] for r in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


@dataclass(frozen=True)
class _Select:
    sql: str
    attnames: list[str]
    compiler: SQLCompiler
    converters: dict[int, Any]


# (name, alias) -> the compiled SELECT with its columns' converters
_SELECTS: dict[tuple[str, str], _Select] = {}


def select_rows(name: str, build: Callable[[], QuerySet[_M]], param: Any, *, using: str) -> list[_M]:
    """The rows of ``build()`` (a queryset of one model's own columns, with ONE parameter: ``param``
    given here replaces it) as model instances, exactly as iterating the queryset gives them (the same
    converters, ``from_db``), with the SQL and the converter list built once per ``name`` and database.

    ``raw()`` would re-resolve the column mapping and the converters on every call; this is the part of
    ``ModelIterable`` that does not depend on the rows."""
    key = (name, using)
    select = _SELECTS.get(key)
    if select is None:
        qs = build()
        compiler = qs.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        assert len(params) == 1, (sql, params)  # one placeholder: the id or hash given at each call
        fields = [col.target for col, _sql, _alias in compiler.select]
        assert fields == list(qs.model._meta.concrete_fields), name  # the model's own columns, in order
        converters = compiler.get_converters([col for col, _sql, _alias in compiler.select])
        select = _Select(sql, [f.attname for f in fields], compiler, converters)
        _SELECTS[key] = select
    model = cast("type[_M]", select.compiler.query.model)
    with connections[using].cursor() as cursor:
        cursor.execute(select.sql, [param])
        rows: Iterable[Any] = cursor.fetchall()
    if select.converters:
        rows = select.compiler.apply_converters(rows, select.converters)
    return [model.from_db(using, select.attnames, tuple(row)) for row in rows]


# name -> the SQL of a values_list queryset
_VALUES: dict[str, str] = {}


def values_rows(name: str, build: Callable[..., QuerySet[Any]], *params: Any, using: str) -> list[tuple[Any, ...]]:
    """The rows of ``build(*params)`` (a ``values_list`` queryset of plain columns, whose compiled
    parameters are exactly ``params`` in that order: checked when it is compiled) as tuples, with the SQL
    compiled once per ``name``. For the money path's small fixed queries (issue 22: worker CPU)."""
    sql = _VALUES.get(name)
    if sql is None:
        compiled, compiled_params = build(*params).query.get_compiler(using=using).as_sql()
        assert list(compiled_params) == list(params), (name, compiled_params, params)
        sql = _VALUES[name] = compiled
    with connections[using].cursor() as cursor:
        cursor.execute(sql, list(params))
        return [tuple(row) for row in cursor.fetchall()]
