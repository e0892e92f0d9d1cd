"""The database: engine set-up for SQLite and PostgreSQL, migrations, and transactions.

Callers own transactions: ``async with db.transaction() as conn`` opens one, repository
functions take ``conn`` and never commit, and the block commits once at its end. Commit listeners
(``add_commit_listener``) receive the events a transaction wrote, after it committed and only then.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from quarterdeck.errors import StoreError
from quarterdeck.locations import mask_url
from quarterdeck.store import migrations, postgres_driver, sqlite_driver, vectors, wakeups
from quarterdeck.store.checkpointer import Checkpointer
from quarterdeck.store.events import COMMITTED_EVENTS
from quarterdeck.store.records import EventRecord
from quarterdeck.store.statements import Statements

if TYPE_CHECKING:  # alembic loads only when the schema is checked: commands that read start faster
    from alembic.config import Config

__all__ = ["CommitListener", "Database", "in_one_switch", "translate_errors"]

#: called with the events of each committed transaction that wrote some; must not block or raise
CommitListener = Callable[[Sequence[EventRecord]], None]

_log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"

#: at most this many connections are kept open for hot transactions (a worker's groups and claims)
_KEPT = 4


def _async_url(url: str) -> sa.URL:
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise StoreError(
            f"invalid database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername=f"sqlite+{sqlite_driver.DRIVER}")
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


async def in_one_switch(conn: AsyncConnection, work: Callable[[AsyncConnection], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``work(conn)``, a coroutine that awaits nothing but repository functions on ``conn``, in one
    ``run_sync``: one greenlet switch for all its statements instead of one per statement, which on a
    hot path (a group of outcomes: 6-8 statements) costs more than the statements on SQLite.

    On SQLite the store's connections run their statements at once already (``Statements``): ``work``
    runs the same way, without the greenlet.

    Raises:
        RuntimeError: ``work`` awaited something else (its statements so far are rolled back with the
            transaction the error ends).
    """

    def run(statements: Statements) -> _T:
        coroutine = work(cast(AsyncConnection, statements))
        try:
            coroutine.send(None)
        except StopIteration as done:
            return cast(_T, done.value)
        coroutine.close()
        raise RuntimeError(f"{work!r} awaited something other than its connection's statements")

    if isinstance(conn, Statements):
        return run(conn)
    return await conn.run_sync(lambda sync: run(Statements(sync)))


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
            # The URL's own arguments (file name, uri …); statements run on the event loop's thread and
            # SQLite's transactions are begun by the store (see sqlite_driver.py), so no thread check.
            args, connect_kwargs = async_url.get_dialect()().create_connect_args(async_url)
            kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False, "isolation_level": None}
            if args and args[0] != ":memory:":
                self._checkpointer = Checkpointer(args[0], uri=bool(connect_kwargs.get("uri")))
        else:
            # Transactions are the store's, on the driver (see postgres_driver.py).
            # No pre-ping (a round trip per checkout): a connection the server closed is seen closed by the
            # driver (its socket's end read by the event loop) and replaced at checkout (``_check_out_live``);
            # one that fails later fails its transaction, invalidated (see postgres_driver.py).
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=False,
                pool_recycle=600,
                isolation_level=postgres_driver.ISOLATION,
            )
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
                isolation_level=postgres_driver.ISOLATION,
                # The hot statements are prepared once per connection and run thousands of times: planned
                # once too (a custom plan per execution re-planned the claim's CTEs every time).
                connect_args={"server_settings": {"plan_cache_mode": "force_generic_plan"}},
            )
        self._writer: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        self._commit_listeners: list[CommitListener] = []
        #: SQLite files: the doorbell rung after a commit that announced ready tasks (``wakeups.py``)
        self._wake_dir = wakeups.wake_dir(url) if self.dialect == "sqlite" else None
        #: connections of hot transactions, open between them (see ``transaction``)
        self._kept: list[AsyncConnection] = []
        if self.dialect == "sqlite":
            self._configure_sqlite()
        else:
            event.listen(self.engine.sync_engine, "checkout", postgres_driver.check_out_live)

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
            vectors.prepare_sqlite(dbapi_connection)  # memory search's vec_distance_cosine
            if self._checkpointer is not None:
                self._checkpointer.start()  # the file exists now

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # The store's transactions are begun before SQLAlchemy's (``_begun``). One begun through
            # SQLAlchemy alone (migrations' own, tests') takes the write lock up front, waiting in SQLite's
            # busy handler: a deferred transaction that reads and then writes can fail with SQLITE_BUSY
            # without waiting when another writer got there first.
            raw = cast(sqlite3.Connection, conn.connection.driver_connection)
            if raw.in_transaction:
                return
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise exc.DBAPIError.instance("BEGIN IMMEDIATE", None, error, sqlite3.Error) from error

    @contextlib.asynccontextmanager
    async def _begun(self, conn: AsyncConnection, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """A transaction on ``conn``, begun by the store on the driver, committed when the block exits
        without error: on SQLite ``BEGIN IMMEDIATE`` awaited while another connection writes (``BEGIN`` for
        a reader), on PostgreSQL asyncpg's transaction (see the drivers' modules). SQLAlchemy's transaction
        inside it keeps SQLAlchemy's bookkeeping (and on SQLite commits or rolls back). On SQLite the
        block gets the sync connection behind the async statement API (``Statements``)."""
        sync = conn.sync_connection
        assert sync is not None
        if self.dialect == "sqlite":
            await sqlite_driver.begin(cast(sqlite3.Connection, sync.connection.driver_connection), write=write)
            try:
                with sync.begin():
                    yield cast(AsyncConnection, Statements(sync))
            finally:
                announced = False
                with contextlib.suppress(exc.SQLAlchemyError):  # (an invalidated connection has no info left)
                    announced = sync.info.pop(wakeups.RING, False)
            if announced and self._wake_dir is not None:  # committed: wake the other processes' idle workers
                wakeups.ring(self._wake_dir)
            return
        async with postgres_driver.transaction(conn):
            # SQLAlchemy begins its own (bookkeeping only, in AUTOCOMMIT) at its first statement, if any:
            # a block of hot statements alone costs no greenlet for it.
            try:
                yield conn
            except BaseException:
                if conn.in_transaction():
                    await conn.rollback()
                raise
            if conn.in_transaction():
                await conn.commit()

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
                    async with self._begun(conn) as begun:
                        yield begun
                    return
                # conn.info belongs to the pooled DBAPI connection: the list must not outlive us.
                committed: list[EventRecord] = []
                conn.info[COMMITTED_EVENTS] = committed
                try:
                    async with self._begun(conn) as begun:
                        yield begun
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
            conn = await self._open(self.engine)
            try:
                yield conn
            finally:
                await conn.close()
            return
        conn = self._kept.pop() if self._kept else await self._open(self._hot_engine)
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

    async def _open(self, engine: AsyncEngine) -> AsyncConnection:
        """A connection of ``engine``. Failing to connect is always the database being away (PostgreSQL
        refusing connections for a while answers with errors that are not ``OperationalError``)."""
        try:
            return await engine.connect()
        except exc.DBAPIError as error:
            reason = error.orig or error
            raise StoreError(f"database {mask_url(self.url)} is unreachable or unusable: {reason}") from error

    def _announce(self, committed: Sequence[EventRecord]) -> None:
        for listener in tuple(self._commit_listeners):
            try:
                listener(committed)
            except Exception:
                # The transaction has committed: a listener's failure must not make it look failed.
                _log.exception("commit listener %r failed", listener)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only block (on SQLite a transaction that takes no write lock).

        On PostgreSQL its statements run without BEGIN and COMMIT (two round trips saved): at READ COMMITTED,
        the store's isolation, each statement sees its own snapshot whether or not a transaction is open, so
        a transaction would add nothing to what a read sees. Nothing written in a read block is kept atomic.
        """
        with translate_errors(self.url):
            if self.dialect != "sqlite":
                conn = await self._open(self.engine)
                try:
                    async with postgres_driver.statements(conn):
                        yield conn
                finally:
                    await conn.close()
                return
            # SQLite: closed here, not by ``async with``, whose exit closes in a new task a loop turn
            # later; concurrent readers (the API's) would meanwhile open further connections, and the
            # pool would close them again. SQLite's close does not wait on anything.
            conn = await self.engine.connect()
            try:
                async with self._begun(conn, write=False) as begun:
                    yield begun
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
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        return config

    async def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with translate_errors(self.url):
            async with self.engine.connect() as conn:
                return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    async def _stamp(self) -> str | None:
        """The revision the database is stamped with, read without alembic; None if unknown (not stamped yet)."""

        def read(sync_conn: sa.Connection) -> list[sa.Row[Any]]:
            return list(sync_conn.execute(sa.text("SELECT version_num FROM alembic_version")).all())

        with translate_errors(self.url):
            async with self.engine.connect() as conn:
                try:
                    rows = await conn.run_sync(read)
                except sa.exc.DBAPIError:
                    return None
        return str(rows[0][0]) if len(rows) == 1 else None

    async def upgrade(self) -> bool:
        """Apply pending migrations; return True if any ran. Safe to call from racing processes."""
        if await self._stamp() == migrations.HEAD:
            return False  # the common case, decided without importing alembic
        if await self.current_revision() == self.head_revision():
            return False
        config = self._alembic_config()

        from alembic import command

        def _run(sync_conn: sa.Connection) -> None:
            if self.dialect == "postgresql":
                sync_conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7207437)")
            config.attributes["connection"] = sync_conn
            command.upgrade(config, "head")

        with self._file_lock(), translate_errors(self.url):
            async with self.engine.connect() as conn, self._begun(conn) as begun:
                await begun.run_sync(_run)
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
