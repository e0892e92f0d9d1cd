"""The database: engine set-up for SQLite and PostgreSQL, migrations, and transactions.

Callers own transactions: ``async with db.transaction() as conn`` opens one, repository
functions take ``conn`` and never commit, and the block commits once at its end. Commit listeners
(``add_commit_listener``) receive the events a transaction wrote, after it committed and only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from quarterdeck.errors import StoreError
from quarterdeck.store import sqlite_driver
from quarterdeck.store.checkpointer import Checkpointer
from quarterdeck.store.events import COMMITTED_EVENTS
from quarterdeck.store.records import EventRecord

__all__ = ["CommitListener", "Database", "in_one_switch", "mask_url", "translate_errors"]

#: called with the events of each committed transaction that wrote some; must not block or raise
CommitListener = Callable[[Sequence[EventRecord]], None]

_log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"

#: at most this many connections are kept open for hot transactions (a worker's groups and claims)
_KEPT = 4


def mask_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


def _async_url(url: str) -> sa.URL:
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise StoreError(
            f"invalid database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise StoreError(f"unsupported database {backend!r} in {mask_url(url)}: use sqlite or postgresql")


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn driver and connection failures into a StoreError that names the URL and the reason."""
    try:
        yield
    except exc.DBAPIError as error:
        if not (error.connection_invalidated or isinstance(error, exc.OperationalError | exc.InterfaceError)):
            raise
        raise StoreError(f"database {mask_url(url)} is unreachable or unusable: {error.orig or error}") from error
    except OSError as error:
        raise StoreError(f"database {mask_url(url)} is unreachable or unusable: {error}") from error


_T = TypeVar("_T")


class _Statements:
    """What repository functions use of an ``AsyncConnection``, run at once on the sync connection."""

    def __init__(self, sync: sa.Connection) -> None:
        self._sync = sync
        self.sync_connection = sync
        self.info = sync.info

    async def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self._sync.execute(statement, parameters, **kwargs)

    async def scalar(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        return self._sync.scalar(statement, parameters, **kwargs)


async def in_one_switch(conn: AsyncConnection, work: Callable[[AsyncConnection], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``work(conn)``, a coroutine that awaits nothing but repository functions on ``conn``, in one
    ``run_sync``: one greenlet switch for all its statements instead of one per statement, which on a
    hot path (a group of outcomes: 6-8 statements) costs more than the statements on SQLite.

    Raises:
        RuntimeError: ``work`` awaited something else (its statements so far are rolled back with the
            transaction the error ends).
    """

    def run(sync: sa.Connection) -> _T:
        coroutine = work(cast(AsyncConnection, _Statements(sync)))
        try:
            coroutine.send(None)
        except StopIteration as done:
            return cast(_T, done.value)
        coroutine.close()
        raise RuntimeError(f"{work!r} awaited something other than its connection's statements")

    return await conn.run_sync(run)


class Database:
    """One async engine plus the few things that differ between SQLite and PostgreSQL."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        #: SQLite files: WAL checkpoints on a thread of their own, not in a commit on the loop (checkpointer.py)
        self._checkpointer: Checkpointer | None = None
        async_url = _async_url(url)
        self.dialect = async_url.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if async_url.database and async_url.database != ":memory:":
                Path(async_url.database).parent.mkdir(parents=True, exist_ok=True)
            # The URL's own arguments (file name, check_same_thread, uri …), on a connection that takes
            # one thread trip per statement (see sqlite_driver.py).
            args, connect_kwargs = async_url.get_dialect()().create_connect_args(async_url)
            kwargs["async_creator"] = functools.partial(sqlite_driver.connect, *args, **connect_kwargs, timeout=60)
            if args and args[0] != ":memory:":
                self._checkpointer = Checkpointer(args[0], uri=bool(connect_kwargs.get("uri")))
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=600)
        self.engine: AsyncEngine = create_async_engine(async_url, **kwargs)
        #: the engine of ``transaction(hot=True)`` (see there); on SQLite the same engine
        self._hot_engine = self.engine
        if self.dialect == "postgresql":
            self._hot_engine = create_async_engine(
                async_url,
                pool_size=2,
                max_overflow=pool_size,
                pool_pre_ping=False,
                pool_recycle=600,
                # The hot statements are prepared once per connection and run thousands of times: planned
                # once too (a custom plan per execution re-planned the claim's CTEs every time).
                connect_args={"server_settings": {"plan_cache_mode": "force_generic_plan"}},
            )
        self._writer: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        self._commit_listeners: list[CommitListener] = []
        #: connections of hot transactions, open between them (see ``transaction``)
        self._kept: list[AsyncConnection] = []
        if self.dialect == "sqlite":
            self._configure_sqlite()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Hand the events of every transaction that commits from now on to ``listener`` (once, if added twice)."""
        if listener not in self._commit_listeners:
            self._commit_listeners.append(listener)

    def remove_commit_listener(self, listener: CommitListener) -> None:
        self._commit_listeners.remove(listener)

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control from the driver so that BEGIN is ours (see _on_begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            pragmas = ["journal_mode=WAL", "busy_timeout=60000", "foreign_keys=ON", "synchronous=NORMAL"]
            if self._checkpointer is not None:
                pragmas.append("wal_autocheckpoint=0")
            for pragma in pragmas:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()
            if self._checkpointer is not None:
                self._checkpointer.start()  # the file exists now

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that reads and then
            # writes can fail with SQLITE_BUSY without waiting when another writer got there first.
            readonly = conn.get_execution_options().get("quarterdeck_readonly", False)
            statement = "BEGIN" if readonly else "BEGIN IMMEDIATE"
            # Straight to the driver: SQLAlchemy's execution machinery costs more than the statement, once
            # per transaction. Its errors are wrapped as SQLAlchemy would have (see ``translate_errors``).
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(statement)
            except Exception as error:
                dbapi = conn.dialect.loaded_dbapi
                raise exc.DBAPIError.instance(statement, None, error, dbapi.Error) from error
            finally:
                cursor.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, hot: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction, committed when the block exits without error.

        ``hot`` is for a worker's claims and outcomes, many a second. Their connections are kept open
        between transactions (checking one out of the pool and back costs ~0.2 ms, more than most of
        their statements), and on PostgreSQL they are not pinged first (a round trip per
        transaction). A connection that fails is closed, not kept, and a connection the server dropped
        fails its transaction with a ``StoreError``; callers on the hot path retry (the outcome writer)
        or look again at their next poll (the worker's claims).

        On SQLite, writers of this process queue on an asyncio lock first: SQLite's own busy
        handler sleeps in growing steps and is unfair, so in-process writers would otherwise wait
        far longer than the write itself takes. Other processes still meet at ``BEGIN IMMEDIATE``.
        """
        with translate_errors(self.url):
            async with self._writer, self._connection(hot) as conn:
                if not self._commit_listeners:
                    async with conn.begin():
                        yield conn
                    return
                # conn.info belongs to the pooled DBAPI connection: the list must not outlive us.
                committed: list[EventRecord] = []
                conn.info[COMMITTED_EVENTS] = committed
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    # An invalidated connection has no info left to clean (its pool record is discarded).
                    with contextlib.suppress(exc.SQLAlchemyError):
                        conn.info.pop(COMMITTED_EVENTS, None)
                # Still inside the SQLite write lock, so this process announces commits in commit order.
                if committed:
                    self._announce(committed)

    @contextlib.asynccontextmanager
    async def _connection(self, hot: bool) -> AsyncIterator[AsyncConnection]:
        """A connection from the pool, or for ``hot`` one kept open between hot transactions."""
        if not hot:
            async with self.engine.connect() as conn:
                yield conn
            return
        conn = self._kept.pop() if self._kept else await self._hot_engine.connect()
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        if conn.invalidated or len(self._kept) >= _KEPT:
            await conn.close()
        else:
            self._kept.append(conn)

    def _announce(self, committed: Sequence[EventRecord]) -> None:
        for listener in tuple(self._commit_listeners):
            try:
                listener(committed)
            except Exception:
                # The transaction has committed: a listener's failure must not make it look failed.
                _log.exception("commit listener %r failed", listener)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (on SQLite it takes no write lock)."""
        with translate_errors(self.url):
            if self.dialect != "sqlite":
                async with self.engine.connect() as conn:
                    conn = await conn.execution_options(quarterdeck_readonly=True)
                    async with conn.begin():
                        yield conn
                return
            # SQLite: closed here, not by ``async with``, whose exit closes in a new task a loop turn
            # later; concurrent readers (the API's) would meanwhile open further connections, and the
            # pool would close them again. SQLite's close does not wait on anything.
            conn = await self.engine.connect()
            try:
                await conn.execution_options(quarterdeck_readonly=True)
                async with conn.begin():
                    yield conn
            finally:
                await conn.close()

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            # Its connection closes first, so the engine's last one checkpoints and removes the WAL.
            await asyncio.to_thread(self._checkpointer.stop)
        kept, self._kept = self._kept, []
        for conn in kept:
            with contextlib.suppress(Exception):
                await conn.close()
        await self.engine.dispose()
        if self._hot_engine is not self.engine:
            await self._hot_engine.dispose()

    # -- migrations -------------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        return config

    async def current_revision(self) -> str | None:
        with translate_errors(self.url):
            async with self.engine.connect() as conn:
                return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    async def upgrade(self) -> bool:
        """Apply pending migrations; return True if any ran. Safe to call from racing processes."""
        if await self.current_revision() == self.head_revision():
            return False
        config = self._alembic_config()

        def _run(sync_conn: sa.Connection) -> None:
            if self.dialect == "postgresql":
                sync_conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7207437)")
            config.attributes["connection"] = sync_conn
            command.upgrade(config, "head")

        with self._file_lock(), translate_errors(self.url):
            async with self.engine.connect() as conn, conn.begin():
                await conn.run_sync(_run)
        return True

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """On SQLite, serialise migrations between processes with a lock file next to the database."""
        database = make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        fd = os.open(f"{database}.migrate.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
