"""PostgreSQL through asyncpg's own connection API: the store's transactions and its hot statements.

SQLAlchemy's execution layer costs ~130 µs of CPU per statement, more than most hot statements take
on the server. So the hot statements (``compiled.py``) run on the asyncpg connection under the
SQLAlchemy connection (``PoolProxiedConnection.driver_connection``), with asyncpg's own API:
``fetch``/``execute``/``executemany``, prepared once per connection by asyncpg's statement cache.

For them to share the transaction of the SQLAlchemy statements around them, the store owns its
transactions on PostgreSQL: its engines run in SQLAlchemy's ``AUTOCOMMIT`` isolation (SQLAlchemy
itself never begins, commits or rolls back on the driver), and ``transaction`` begins, commits and
rolls back with asyncpg's ``Connection.transaction()``, around SQLAlchemy's own ``begin()`` (which
then only keeps its bookkeeping). Isolation is the server's default, READ COMMITTED, as before.

asyncpg's errors come out as SQLAlchemy's ``DBAPIError``s: an error the server reports about a
statement classed as SQLAlchemy's asyncpg dialect classes it (integrity, programming, internal;
others ``DBAPIError``), any other (the session ended, the network, the driver's own state, a statement
cancelled mid-flight) invalidates the connection: ``OperationalError`` with ``connection_invalidated``,
so ``database.translate_errors`` makes it a ``StoreError`` and the callers retry on a fresh connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from asyncpg import exceptions as pg_errors
from sqlalchemy import exc
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["ISOLATION", "call", "check_out_live", "driver_of", "statements", "transaction", "wrapped"]

#: the isolation the store's PostgreSQL engines are created with (see the module's docstring)
ISOLATION = "AUTOCOMMIT"

_T = TypeVar("_T")

#: asyncpg's errors and SQLAlchemy's classes for them, most specific first (as SQLAlchemy's asyncpg dialect)
_CLASSES: tuple[tuple[type[Exception], type[exc.DBAPIError]], ...] = (
    (pg_errors.IntegrityConstraintViolationError, exc.IntegrityError),
    (pg_errors.SyntaxOrAccessError, exc.ProgrammingError),
    (pg_errors.InternalServerError, exc.InternalError),
)

#: what a driver call may raise that is the database's, the driver's or the network's, not the caller's
DRIVER_ERRORS = (pg_errors.PostgresError, pg_errors.InterfaceError, pg_errors.InternalClientError, OSError)
#: errors the server reports about the session itself, not the statement: the connection is gone
_SESSION_ERRORS = (
    pg_errors.PostgresConnectionError,
    pg_errors.AdminShutdownError,
    pg_errors.CrashShutdownError,
    pg_errors.CannotConnectNowError,
)


def driver_of(sync: sa.Connection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy connection.

    Raises:
        sqlalchemy.exc.OperationalError: the connection was invalidated in this transaction (SQLAlchemy
            would reconnect, outside the transaction: refused, as SQLAlchemy refuses it for its own).
    """
    if sync.invalidated:
        lost = ConnectionError("the connection was invalidated in this transaction")
        raise exc.OperationalError(None, None, lost, connection_invalidated=True)
    return cast(asyncpg.Connection, sync.connection.driver_connection)


def wrapped(
    statement: str, arguments: Any, error: BaseException, sync: sa.Connection, driver: asyncpg.Connection
) -> exc.DBAPIError:
    """``error`` of ``driver`` as SQLAlchemy would have raised it. Only an error the server reports about
    the statement leaves the connection in use; after any other (a session ended by the server, the
    network, the driver's own state) it is invalidated: ``OperationalError`` with ``connection_invalidated``.
    """
    lost = driver.is_closed() or not isinstance(error, pg_errors.PostgresError) or isinstance(error, _SESSION_ERRORS)
    if lost:
        _invalidate(sync, error)
        return exc.OperationalError(statement, arguments, error, connection_invalidated=True)
    cls = next((ours for theirs, ours in _CLASSES if isinstance(error, theirs)), exc.DBAPIError)
    return cls(statement, arguments, error)


async def call(
    conn: AsyncConnection, statement: str, arguments: Any, fn: Callable[[asyncpg.Connection], Awaitable[_T]]
) -> _T:
    """``fn(driver)`` awaited; its driver errors wrapped (``wrapped``). Inside ``database.in_one_switch``
    (``conn`` is not an ``AsyncConnection`` there) it is awaited from the greenlet, through SQLAlchemy's
    ``AdaptedConnection.run_async``."""
    sync = conn.sync_connection
    if sync is None:
        raise exc.ResourceClosedError("the connection is closed")
    driver = driver_of(sync)
    try:
        if isinstance(conn, AsyncConnection):
            return await fn(driver)
        return cast(AdaptedConnection, sync.connection.dbapi_connection).run_async(fn)
    except DRIVER_ERRORS as error:
        raise wrapped(statement, arguments, error, sync, driver) from error
    except BaseException as error:
        if not isinstance(error, Exception):  # cancelled mid-statement: its state on the wire is unknown
            _invalidate(sync, error)
        raise


@contextlib.asynccontextmanager
async def transaction(conn: AsyncConnection) -> AsyncIterator[None]:
    """One transaction on the driver, committed when the block exits without error, else rolled back.

    Whenever its state is in doubt the connection is invalidated (closed, never back in the pool), as
    SQLAlchemy does with its own: a BEGIN that failed or was interrupted (asyncpg keeps that transaction
    as the connection's own, and the next one would become a savepoint inside a BEGIN nobody commits), a
    block left by cancellation (a statement may be in flight), a rollback that failed, and a COMMIT that
    failed or was interrupted with the transaction possibly still open. The server rolls back what a
    closed connection left.
    """
    sync = conn.sync_connection
    if sync is None:
        raise exc.ResourceClosedError("the connection is closed")
    driver = driver_of(sync)
    try:
        tx = driver.transaction()  # (refused at once if the server closed the connection meanwhile)
        await tx.start()
    except BaseException as error:
        _invalidate(sync, error)
        if isinstance(error, DRIVER_ERRORS):
            raise wrapped("BEGIN", None, error, sync, driver) from error
        raise
    try:
        yield
    except Exception:
        try:
            await tx.rollback()
        except BaseException as error:
            _invalidate(sync, error)
            if not isinstance(error, DRIVER_ERRORS):
                raise
        raise
    except BaseException as error:  # cancelled, or the process is leaving
        _invalidate(sync, error)
        raise
    try:
        await tx.commit()
    except BaseException as error:
        if not isinstance(error, DRIVER_ERRORS) or driver.is_in_transaction():
            _invalidate(sync, error)
        if isinstance(error, DRIVER_ERRORS):
            raise wrapped("COMMIT", None, error, sync, driver) from error
        raise


@contextlib.asynccontextmanager
async def statements(conn: AsyncConnection) -> AsyncIterator[None]:
    """Statements outside a transaction (each its own, at the server's READ COMMITTED): ``Database.read``.

    As in ``transaction``, a block left by cancellation (a statement may be in flight) invalidates the
    connection; SQLAlchemy's own bookkeeping transaction (no BEGIN on the driver in ``AUTOCOMMIT``) is
    ended, so the connection goes back to the pool clean.
    """
    sync = conn.sync_connection
    if sync is None:
        raise exc.ResourceClosedError("the connection is closed")
    try:
        yield
    except Exception:
        if conn.in_transaction():
            await conn.rollback()
        raise
    except BaseException as error:  # cancelled, or the process is leaving
        _invalidate(sync, error)
        raise
    if conn.in_transaction():
        await conn.rollback()  # a read: nothing to commit (and no round trip in AUTOCOMMIT)


def check_out_live(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """The pool's ``checkout`` listener: a connection the server closed is replaced, without a round trip.

    The driver marks its connection closed once the event loop has read the end of its socket (a backend
    terminated, the server restarted); the pool then discards it and checks out another (SQLAlchemy's
    ``DisconnectionError`` protocol). A connection that breaks later fails its statement, invalidated.
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the server closed the connection")


def _invalidate(sync: sa.Connection, error: BaseException) -> None:
    if not sync.invalidated:
        sync.invalidate(error if isinstance(error, Exception) else None)
