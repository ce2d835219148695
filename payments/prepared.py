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

``insert_rows`` writes new instances of one model in a single INSERT … RETURNING the primary key, with
each field's own ``pre_save`` (``auto_now_add``) and ``get_db_prep_save`` (JSON, decimals), as
``bulk_create`` does. Models with save hooks or signal receivers must not use it (none of ours do);
a value that is an SQL expression (``db_default`` without a Python default) falls back to
``bulk_create``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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


_INSERT_SQL: dict[tuple[type[Model], int, str], tuple[str, tuple[Any, ...], bool]] = {}


def _unnestable(fields: Sequence[Any], connection: Any) -> bool:
    """Django's own test for its UNNEST bulk insert (django/db/backends/postgresql/compiler.py)."""
    return not any(hasattr(field, "get_placeholder") for field in fields) and all(
        (field.target_field if field.is_relation else field).get_internal_type() in connection.data_types
        for field in fields
    )


def _insert_sql(model: type[Model], rows: int, alias: str) -> tuple[str, tuple[Any, ...], bool]:
    """(SQL, fields, unnest). Several rows go through UNNEST, one array per column, as Django's
    ``bulk_create`` does on PostgreSQL: the statement and its parameter count stay the same for any
    number of rows, so psycopg keeps its parsed form cached (it does not cache a statement with more
    than 50 parameters: 4 legs x 29 columns re-parsed ~1.5 CPU ms per sale)."""
    key = (model, rows, alias)
    found = _INSERT_SQL.get(key)
    if found is None:
        opts = model._meta
        connection = connections[alias]
        quote = connection.ops.quote_name
        fields = tuple(f for f in opts.concrete_fields if not f.generated and not (f.primary_key and f.auto_created))
        unnest = rows > 1 and _unnestable(fields, connection)
        if unnest:
            # The types without their length (varchar[], not varchar(50)[]), as Django does.
            arrays = ", ".join(f"(%s)::{str(field.db_type(connection)).split('(')[0]}[]" for field in fields)
            source = f"SELECT * FROM UNNEST({arrays})"  # noqa: S608 - types from the model's meta
        else:
            one = "(" + ", ".join(["%s"] * len(fields)) + ")"
            source = f"VALUES {', '.join([one] * rows)}"
        columns = ", ".join(quote(f.column) for f in fields)
        sql = f"INSERT INTO {quote(opts.db_table)} ({columns}) {source} RETURNING {quote(opts.pk.column)}"
        found = (sql, fields, unnest)
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
    sql, fields, unnest = _insert_sql(model, len(objs), alias)
    rows: list[list[Any]] = []
    for obj in objs:
        if type(obj) is not model:
            raise TypeError("insert_rows writes instances of one model")
        row = []
        for field in fields:
            value = field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):  # a database default or expression: the ORM's way
                return model._default_manager.bulk_create(list(objs))
            row.append(field.get_db_prep_save(value, connection=connection))
        rows.append(row)
    params = [list(column) for column in zip(*rows, strict=True)] if unnest else [v for row in rows for v in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
    return list(objs)
