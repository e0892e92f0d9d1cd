"""SQLite through the standard library's ``sqlite3`` module, with statements on the event loop's thread.

An async driver (aiosqlite) runs every call on a thread of its own, and SQLAlchemy's adapter makes
four such calls per statement (open a cursor, execute, fetch, close). Each trip is a queue hand-off,
a wake-up of the event loop through its self-pipe and a future — far more than the statement itself
on a local WAL database (tens of microseconds), and most of the engine's CPU time per task. So the
store's SQLite engine uses SQLAlchemy's own dialect for the standard library's ``sqlite3`` module,
marked usable by ``create_async_engine`` (``Dialect.is_async``): the engine's pool, events and
``run_sync`` work as with any async driver, and a ``sqlite3`` call simply runs on the loop's thread.
The store's transactions (``Database.transaction``/``read``) hand out SQLAlchemy's sync
``Connection`` behind the async statement API its repositories use (``database.Statements``): no
thread and no greenlet per statement. (``AsyncConnection.execute`` itself refuses a driver that never
awaits: outside the store, use ``run_sync``.) Only ``sqlite3``'s and SQLAlchemy's public API is used.

The one statement that waits for another connection is ``BEGIN IMMEDIATE`` (the write lock: WAL
readers never wait, and a writer holding the lock does not wait again before its commit). The store
begins its transactions itself (``begin``), before SQLAlchemy's, so that this wait is awaited: tried
without SQLite's busy handler, which would sleep on the event loop's thread, and retried after an
``asyncio.sleep`` until the connection's ``busy_timeout`` has passed. A transaction begun through
SQLAlchemy alone (``engine.begin()``) gets its ``BEGIN IMMEDIATE`` from ``Database``'s ``begin``
listener and waits in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy import exc, pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL

__all__ = ["DRIVER", "SQLiteDialect_quarterdeck", "begin"]

#: the driver name of the dialect in URLs: ``sqlite+quarterdeck:///PATH``
DRIVER = "quarterdeck"

#: the longest pause between two tries of ``BEGIN IMMEDIATE`` while another connection writes
_MAX_PAUSE_S = 0.02


class SQLiteDialect_quarterdeck(SQLiteDialect_pysqlite):
    """SQLAlchemy's ``sqlite3`` dialect, usable by ``create_async_engine``: its calls never await."""

    driver = DRIVER
    supports_statement_cache = True
    is_async = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # The asyncio pool for files, as SQLAlchemy's aiosqlite dialect has; one connection for ``:memory:``.
        database = url.database
        if database and database != ":memory:" and url.query.get("mode") != "memory":
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_quarterdeck")


def _busy(error: sqlite3.OperationalError) -> bool:
    return (getattr(error, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


async def begin(connection: sqlite3.Connection, *, write: bool) -> None:
    """Begin a transaction on ``connection``: ``BEGIN IMMEDIATE`` for a writer, awaiting (not sleeping in
    SQLite) while another connection holds the write lock; ``BEGIN`` for a reader.

    Raises:
        sqlalchemy.exc.DBAPIError: the statement failed, or the lock stayed taken for the connection's
            ``busy_timeout`` (an ``OperationalError``); wrapped as SQLAlchemy wraps driver errors.
    """
    statement = "BEGIN IMMEDIATE" if write else "BEGIN"
    try:
        if write:
            await _take_write_lock(connection)
        else:
            connection.execute(statement)
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from error


async def _take_write_lock(connection: sqlite3.Connection) -> None:
    patience_ms = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience_ms / 1000
        pause = 0.0005
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not _busy(error) or loop.time() >= deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {patience_ms}")
