"""Hot statements compiled once per dialect and run through the database driver itself.

SQLAlchemy's execution layer costs ~130 µs of CPU per statement (cache lookup, parameter and result
set-up) where the statement itself takes a few µs on SQLite. The hot path (claims, grouped outcomes,
run probes, events) builds its statements with SQLAlchemy Core as before; ``Compiled`` compiles each
once per dialect to its SQL text, the order of its parameters and the type conversions of its
parameters and result columns — the ones SQLAlchemy applies, taken from the public ``TypeEngine``
API (``dialect_impl``, ``bind_processor``, ``result_processor``) — and ``fetch``/``execute``/
``execute_many`` run it on the driver connection under the SQLAlchemy connection
(``PoolProxiedConnection.driver_connection``), inside the same transaction: the ``sqlite3``
connection on the event loop's thread (``sqlite_driver.py``), or asyncpg's own API, awaited directly
or, inside ``database.in_one_switch``, from its greenlet (``postgres_driver.py``).

Driver errors are wrapped as SQLAlchemy wraps them (``DBAPIError``; a dropped PostgreSQL connection is
invalidated), so ``database.translate_errors`` and the callers' retries see no difference.
Statements with expanding parameters (``IN`` lists) cannot be compiled once: build them per length.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from quarterdeck.store import postgres_driver

__all__ = ["Compiled", "RowsInsert", "dialect_name", "execute", "execute_many", "fetch"]

_Processor = Callable[[Any], Any]
#: a position whose value the caller gives (the others are fixed in the statement)
_GIVEN = object()


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement compiled for one dialect."""

    sql: str
    names: tuple[str, ...]
    #: per position: the (converted) value fixed in the statement, or ``_GIVEN``
    fixed: tuple[Any, ...]
    binds: tuple[_Processor | None, ...]
    results: tuple[_Processor | None, ...]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for name, fixed, convert in zip(self.names, self.fixed, self.binds, strict=True):
            if fixed is not _GIVEN:
                out.append(fixed)
                continue
            value = values[name]
            out.append(value if convert is None else convert(value))
        return out

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if not any(self.results):
            return [tuple(row) for row in raw]
        converters = self.results
        return [
            tuple(v if convert is None else convert(v) for convert, v in zip(converters, row, strict=True))
            for row in raw
        ]


class Compiled:
    """A Core statement compiled once per dialect (on first use)."""

    def __init__(self, statement: sa.ClauseElement) -> None:
        self.statement = statement
        self._forms: dict[str, _Form] = {}

    def form(self, dialect: Dialect) -> _Form:
        found = self._forms.get(dialect.name)
        if found is None:
            found = self._forms[dialect.name] = self._compile(dialect)
        return found

    def _compile(self, dialect: Dialect) -> _Form:
        compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ())
        if any(name.startswith("__[POSTCOMPILE") for name in names) or compiled.literal_execute_params:
            raise ValueError("a statement with expanding parameters cannot be compiled once")
        binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        fixed: list[Any] = []
        for name, convert in zip(names, binds, strict=True):
            bind = compiled.binds[name]
            if bind.required or bind.callable is not None:
                fixed.append(_GIVEN)
            else:
                fixed.append(bind.value if convert is None else convert(bind.value))
        returned = cast(Sequence[sa.ColumnElement[Any]], getattr(self.statement, "exported_columns", ()))
        results = tuple(_result_processor(column.type, dialect) for column in returned)
        return _Form(compiled.string, names, tuple(fixed), binds, results)


def _result_processor(type_: sa.types.TypeEngine[Any], dialect: Dialect) -> _Processor | None:
    """The conversion SQLAlchemy applies to a result column of this type. A few (floats on asyncpg) depend
    on the column's type code in the driver's description, unknown here: those get none, because the
    driver returns them as Python floats already (``Float`` columns are double precision)."""
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None)
    except (TypeError, exc.InvalidRequestError):
        if not isinstance(type_, sa.Float):
            raise
        return None


def _sync(conn: AsyncConnection) -> sa.Connection:
    """The sync connection under ``conn`` (an ``AsyncConnection`` or ``in_one_switch``'s stand-in)."""
    sync: sa.Connection | None = conn.sync_connection
    if sync is None:
        raise exc.ResourceClosedError("the connection is closed")
    return sync


async def _run(conn: AsyncConnection, form: _Form, arguments: Any, mode: str) -> tuple[list[Any], int]:
    """Run the statement: ``mode`` is ``fetch`` (rows), ``execute`` (row count) or ``many``."""
    sync = _sync(conn)
    if sync.dialect.name == "sqlite":
        raw = cast(sqlite3.Connection, sync.connection.driver_connection)
        try:
            if mode == "many":
                raw.executemany(form.sql, arguments)
                return [], -1
            cursor = raw.execute(form.sql, arguments)
            rows = cursor.fetchall() if mode == "fetch" else []
            count = cursor.rowcount
            cursor.close()
            return rows, count
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(form.sql, arguments, error, sqlite3.Error) from error
    if mode == "fetch":
        fetched = await postgres_driver.call(conn, form.sql, arguments, lambda d: d.fetch(form.sql, *arguments))
        return list(fetched), -1
    if mode == "many":
        await postgres_driver.call(conn, form.sql, arguments, lambda d: d.executemany(form.sql, arguments))
        return [], -1
    status = await postgres_driver.call(conn, form.sql, arguments, lambda d: d.execute(form.sql, *arguments))
    return [], int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else -1


def dialect_name(conn: AsyncConnection) -> str:
    """``sqlite`` or ``postgresql``."""
    return _sync(conn).dialect.name


async def fetch(conn: AsyncConnection, statement: Compiled, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows the statement returns, converted as SQLAlchemy would."""
    form = statement.form(_sync(conn).dialect)
    rows, _ = await _run(conn, form, form.arguments(values), "fetch")
    return form.rows(rows)


async def execute(conn: AsyncConnection, statement: Compiled, values: Mapping[str, Any]) -> int:
    """Run the statement; the number of rows it changed."""
    form = statement.form(_sync(conn).dialect)
    _, count = await _run(conn, form, form.arguments(values), "execute")
    return count


async def execute_many(conn: AsyncConnection, statement: Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run the statement once per row of parameters (one driver call)."""
    if not rows:
        return
    form = statement.form(_sync(conn).dialect)
    if len(rows) == 1:
        await _run(conn, form, form.arguments(rows[0]), "execute")
        return
    await _run(conn, form, [form.arguments(row) for row in rows], "many")


class RowsInsert:
    """An ``INSERT`` of many rows at once, compiled once: each row's ``columns``, and ``shared`` values
    given once for all of them.

    On PostgreSQL it is one execution of one statement, the columns passed as arrays and unnested in
    order (JSON ones as text, cast back), where ``executemany`` executes the statement once per row on
    the server (~50 µs each); on SQLite it is ``executemany``. Rows get their ids in the given order.
    """

    def __init__(self, table: sa.Table, columns: Sequence[str], *, shared: Sequence[str] = ()) -> None:
        self.columns = tuple(columns)
        self.shared = tuple(shared)
        self._json = frozenset(name for name in self.columns if isinstance(table.c[name].type, sa.JSON))
        every = (*self.columns, *self.shared)
        self._each = Compiled(
            table.insert().values({name: sa.bindparam(name, type_=table.c[name].type) for name in every})
        )
        arrays = [
            sa.bindparam(name, type_=postgresql.ARRAY(sa.Text if name in self._json else table.c[name].type))
            for name in self.columns
        ]
        rows = sa.func.unnest(*arrays).table_valued(*self.columns, with_ordinality="n").render_derived(name="rows")
        picked = [
            sa.cast(rows.c[name], postgresql.JSONB) if name in self._json else rows.c[name] for name in self.columns
        ]
        picked += [sa.bindparam(name, type_=table.c[name].type) for name in self.shared]
        #: PostgreSQL's one statement, its parameters from ``arrays`` and the shared values; another statement
        #: may hold it as a data-modifying CTE (``tasks``' claim appends the group's events so)
        self.unnested = table.insert().from_select(every, sa.select(*picked).order_by(rows.c.n))
        self._unnested = Compiled(self.unnested)

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The parameters of ``unnested`` for ``rows``: one array per column."""
        return {
            name: [json.dumps(row[name]) for row in rows] if name in self._json else [row[name] for row in rows]
            for name in self.columns
        }

    async def run(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]], shared: Mapping[str, Any]) -> None:
        """Insert ``rows`` (each with a value for every column), with the ``shared`` values."""
        if not rows:
            return
        if len(rows) == 1 or dialect_name(conn) != "postgresql":
            await execute_many(conn, self._each, [{**row, **shared} for row in rows])
            return
        await execute(conn, self._unnested, {**self.arrays(rows), **shared})
