"""The SQLite driver connection: statements run on the event loop's thread; only lock waits are awaited.

aiosqlite runs every call on a thread of its own, and SQLAlchemy's adapter makes four such calls per
statement (open a cursor, execute, fetch, close). Each trip is a queue hand-off, a wake-up of the
event loop through its self-pipe and a future — far more than the statement itself on a local WAL
database (tens of microseconds), and most of the engine's CPU time per task. So this connection
runs statements, commits and rollbacks where they are called, and its cursors execute, fetch and
close in one call; what SQLAlchemy then reads from them (``description``, ``rowcount``,
``lastrowid``, the rows) is already at hand. The aiosqlite thread still opens and closes the
connection.

The one statement that waits for another connection is ``BEGIN IMMEDIATE`` (the write lock: WAL
readers never wait, and a writer holding the lock does not wait again before its commit). It is
tried without SQLite's busy handler, which would sleep on the event loop's thread, and retried after
an ``asyncio.sleep`` until the connection's ``busy_timeout`` has passed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from threading import Thread
from typing import Any

import aiosqlite

__all__ = ["connect"]

_Description = tuple[tuple[Any, ...], ...] | None
_Outcome = tuple[_Description, int, int | None, list[Any]]

#: the longest pause between two tries of ``BEGIN IMMEDIATE`` while another connection writes
_MAX_PAUSE_S = 0.02


def _statement(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """The statement and everything SQLAlchemy will read from its cursor."""
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


def _busy(error: sqlite3.OperationalError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


async def _begin_immediate(connection: sqlite3.Connection, sql: str) -> _Outcome:
    """Take the write lock, awaiting (not sleeping in SQLite) while another connection holds it."""
    patience_ms = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience_ms / 1000
        pause = 0.0005
        while True:
            try:
                return _statement(connection, sql, None, False)
            except sqlite3.OperationalError as error:
                if not _busy(error) or loop.time() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {patience_ms}")


class _Cursor:
    """A cursor whose statement runs, is fetched and closed at once; its rows are then read from memory."""

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
        if sql.startswith("BEGIN IMMEDIATE"):
            outcome = await _begin_immediate(self._connection._conn, sql)
        else:
            outcome = _statement(self._connection._conn, sql, parameters, False)
        self._take(outcome)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        self._take(_statement(self._connection._conn, sql, parameters, True))
        return self

    def _take(self, outcome: _Outcome) -> None:
        self.description, self.rowcount, self.lastrowid, rows = outcome
        self._rows = deque(rows)

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
    """An aiosqlite connection that runs its calls where they are made, once it is open."""

    def cursor(self) -> _Cursor:  # type: ignore[override]
        return _Cursor(self)

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        return fn(*args, **kwargs)


async def connect(database: str, **kwargs: Any) -> aiosqlite.Connection:
    """Open ``database`` (``sqlite3.connect`` arguments), as SQLAlchemy's ``async_creator``."""
    # The connection is opened on aiosqlite's thread and used on the event loop's; SQLAlchemy
    # serialises the calls on one connection.
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return opened

    connection = _Connection(connector, iter_chunk_size=64)
    # The thread must not keep the interpreter alive (SQLAlchemy does the same for plain aiosqlite).
    thread = connection if isinstance(connection, Thread) else connection._thread
    thread.daemon = True
    await connection
    return connection
