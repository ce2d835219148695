"""Statements compiled once per process for the hot paths: a queryset's SELECT (with its
``select_related`` joins) and a model's multi-row INSERT.

Why: Django compiles a queryset's SQL on every evaluation, and for our wide rows (a merchant has
~40 columns, a split ~45) compiling costs more CPU than PostgreSQL spends answering. A create read
its terminal with the merchant (1.5 CPU ms) and a split profile with its shares and staff (1.8 ms),
then compiled the split's and the legs' INSERTs: more than the rest of the request's own work.

``PreparedQuery`` compiles the queryset its builder returns once (per database alias) and then
materialises rows exactly as ``ModelIterable`` does: the compiler's converters, ``Model.from_db``
for the row's model and Django's related populators for the ``select_related`` ones. Only the values
of the named slots change between calls; everything else in the queryset (constants, ordering, limits,
locks) is fixed at compile time.

``insert_rows`` writes new instances of one model in a single INSERT … RETURNING the primary key (several
rows of plain types as one JSON parameter: ``_insert_sql``), with
each field's own ``pre_save`` (``auto_now_add``) and ``get_db_prep_save`` (JSON, decimals), as
``bulk_create`` does. Models with save hooks or signal receivers must not use it (none of ours do);
a value that is an SQL expression (``db_default`` without a Python default) falls back to
``bulk_create``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]

M = TypeVar("M", bound=Model)

# A value no real id, hash or key takes: compiled in place of a slot, then found in the params.
_SENTINEL_BASE = -7_331_000_000


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (position in params, slot name)
    model: type[Model]
    init_list: tuple[str, ...]
    start: int
    end: int
    populators: tuple[Any, ...]
    converters: dict[int, Any]
    compiler: Any


class PreparedQuery(Generic[M]):
    """``build(**sentinels)`` returns a queryset of ``model``; ``fetch(**values)`` runs it with the slots' values.

    Every slot is an int: the builder is called once with sentinel ints, which must each appear
    exactly once among the compiled parameters."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]], *slots: str) -> None:
        self._model = model
        self._build = build
        self._slots = slots
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        sentinels = {name: _SENTINEL_BASE - index for index, name in enumerate(self._slots)}
        queryset = self._build(**sentinels)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions = []
        for name, value in sentinels.items():
            found = [index for index, param in enumerate(params) if param == value and type(param) is int]
            if len(found) != 1:
                raise ValueError(f"slot {name!r} appears {len(found)} times in the compiled parameters")
            positions.append((found[0], name))
        klass_info = compiler.klass_info
        select = compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(positions),
            model=klass_info["model"],
            init_list=tuple(f[0].target.attname for f in select[start:end]),
            start=start,
            end=end,
            populators=tuple(get_related_populators(klass_info, select, alias)),
            converters=compiler.get_converters([s[0] for s in select]),
            compiler=compiler,
        )

    def _for(self, alias: str) -> _Compiled:
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(alias) or self._compile(alias)
                self._compiled[alias] = compiled
        return compiled

    def fetch(self, **values: int) -> list[M]:
        """The queryset's instances for these slot values, read from the model's read database (the
        primary unless the caller asked for a replica: blinkpos/db_router.py)."""
        alias = router.db_for_read(self._model)
        return self._run(self._for(alias), alias, values)

    def _run(self, compiled: _Compiled, alias: str, values: dict[str, int]) -> list[M]:
        if values.keys() != set(self._slots):
            raise TypeError(f"expected the slots {sorted(self._slots)}, got {sorted(values)}")
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows: Any = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        out: list[M] = []
        for row in rows:
            obj = compiled.model.from_db(alias, list(compiled.init_list), row[compiled.start : compiled.end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            out.append(obj)  # type: ignore[arg-type]
        return out


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
        found = _Insert(sql=sql, fields=fields, as_json=as_json)
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
        for field in insert.fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # a database default or expression: the ORM's way
                return model._default_manager.bulk_create(list(objs))
            row.append(field.get_db_prep_save(value, connection=connection))
        rows.append(row)
    if insert.as_json:
        columns = [field.column for field in insert.fields]
        document = [{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]
        params: list[Any] = [json.dumps(document)]
    else:
        params = [v for row in rows for v in row]
    with connection.cursor() as cursor:
        cursor.execute(insert.sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
    return list(objs)
