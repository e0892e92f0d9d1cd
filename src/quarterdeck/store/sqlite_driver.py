"""The SQLite driver connection: aiosqlite, with one trip to its thread per statement instead of four.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's adapter makes four such
calls per statement (open a cursor, execute, fetch, close). Each trip costs a queue hand-off, a
wake-up of the event loop through its self-pipe and a future, which is far more than the statement
itself on a WAL database: they were most of the engine's CPU time per task. This connection's
cursors execute, fetch every row and close in a single trip; what SQLAlchemy then reads from them
(``description``, ``rowcount``, ``lastrowid``, the rows) is already at hand.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from threading import Thread
from typing import Any, cast

import aiosqlite

__all__ = ["connect"]

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]


def _execute(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """Run on the connection's thread: the statement and everything SQLAlchemy will read from it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # rowcount is final only once RETURNING rows have been fetched
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _Cursor:
    """A cursor whose statement runs, is fetched and closed in one trip; its rows are then read locally."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> _Cursor:
        outcome = await self._connection.hop(sql, parameters, many=False)
        self.description, self.rowcount, self.lastrowid, rows = outcome
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        outcome = await self._connection.hop(sql, list(parameters), many=True)
        self.description, self.rowcount, self.lastrowid, rows = outcome
        self._rows = deque(rows)
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        taken, self._rows = list(self._rows), deque()
        return taken

    async def close(self) -> None:
        self._rows.clear()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None

    def setoutputsize(self, *_: Any) -> None:
        return None

    def __aiter__(self) -> _Cursor:
        return self

    async def __anext__(self) -> Any:
        if not self._rows:
            raise StopAsyncIteration
        return self._rows.popleft()


class _Connection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors take one trip per statement."""

    def cursor(self) -> _Cursor:  # type: ignore[override]
        return _Cursor(self)

    async def hop(self, sql: str, parameters: Any, *, many: bool) -> _Outcome:
        """Execute one statement on the connection's thread, in one trip."""
        outcome = await self._execute(_execute, self._conn, sql, parameters, many)  # type: ignore[no-untyped-call]
        return cast(_Outcome, outcome)


async def connect(database: str, **kwargs: Any) -> aiosqlite.Connection:
    """Open ``database`` (``sqlite3.connect`` arguments) on its own thread, as SQLAlchemy's ``async_creator``."""

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = _Connection(connector, iter_chunk_size=64)
    # The thread must not keep the interpreter alive (SQLAlchemy does the same for plain aiosqlite).
    thread = connection if isinstance(connection, Thread) else connection._thread
    thread.daemon = True
    await connection
    return connection
