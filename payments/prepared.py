"""Reads compiled once per process for the hot paths (their writes: payments/services/row_sql.py).

Why: Django compiles a queryset's SQL, its column mapping and its converters on every evaluation, and
for our wide rows (a merchant has ~40 columns, a split ~45) that costs more CPU than PostgreSQL spends
answering. A create read its terminal with the merchant (1.5 CPU ms) and a split profile with its
shares and staff (1.8 ms); a forward locks its split and legs a dozen times (issue 22).

- ``PreparedQuery``: a queryset (``select_related`` joins included) compiled once per database alias,
  its rows materialised exactly as ``ModelIterable`` does (the compiler's converters, ``Model.from_db``,
  Django's related populators). Only the named slots change between calls; constants, ordering, limits
  and locks are fixed at compile time.
- ``values_rows``: a ``values_list`` queryset's tuples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]

from payments.statements import statement_cursor

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

    The builder is called once with a sentinel int per slot, which must appear exactly once among the
    compiled parameters (as itself, or as its string for a text column); each call puts the slot's
    value in its place."""

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
            # A text column's lookup turns the sentinel into its string (a payment hash slot).
            found = [
                i for i, param in enumerate(params) if (type(param) is int and param == value) or param == str(value)
            ]
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

    def fetch(self, **values: Any) -> list[M]:
        """The queryset's instances for these slot values, read from the model's read database (the
        primary unless the caller asked for a replica: blinkpos/db_router.py)."""
        alias = router.db_for_read(self._model)
        return self._run(self._for(alias), alias, values)

    def fetch_for_write(self, **values: Any) -> list[M]:
        """As ``fetch``, on the write database: a lock (``select_for_update``) is a write."""
        alias = router.db_for_write(self._model)
        return self._run(self._for(alias), alias, values)

    def _run(self, compiled: _Compiled, alias: str, values: dict[str, Any]) -> list[M]:
        if values.keys() != set(self._slots):
            raise TypeError(f"expected the slots {sorted(self._slots)}, got {sorted(values)}")
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        with statement_cursor(connections[alias]) as cursor:
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


# (name, database) -> the SQL of a values_list queryset
_VALUES: dict[tuple[str, str], str] = {}


def values_rows(name: str, build: Callable[..., QuerySet[Any]], *params: Any, using: str) -> list[tuple[Any, ...]]:
    """The rows of ``build(*params)`` (a ``values_list`` queryset of plain columns, whose compiled
    parameters are exactly ``params`` in that order: checked when it is compiled) as tuples, with the SQL
    compiled once per ``name`` and database. For the money path's small fixed queries (issue 22)."""
    sql = _VALUES.get((name, using))
    if sql is None:
        compiled, compiled_params = build(*params).query.get_compiler(using=using).as_sql()
        assert list(compiled_params) == list(params), (name, compiled_params, params)
        sql = _VALUES[(name, using)] = compiled
    with statement_cursor(connections[using]) as cursor:
        cursor.execute(sql, list(params))
        return [tuple(row) for row in cursor.fetchall()]
