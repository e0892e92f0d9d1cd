"""The store's PostgreSQL transactions on asyncpg (``store/postgres_driver.py``): however a transaction
ends, its connection never goes back to use inside an open transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa

from quarterdeck.errors import StoreError
from quarterdeck.store.database import Database
from quarterdeck.store.tables import DEFAULT_ORG, orgs
from tests.support.databases import PostgresTemplate

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(pg_template: PostgresTemplate) -> Iterator[str]:
    name = pg_template.clone()
    yield pg_template.url(name)
    pg_template.drop(name)


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    await database.upgrade()
    yield database
    await database.dispose()


async def _rename(db: Database, name: str) -> None:
    async with db.transaction(hot=True) as conn:
        # A row lock still held by a leaked transaction fails this instead of hanging the test.
        await conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        await conn.execute(orgs.update().where(orgs.c.id == DEFAULT_ORG).values(name=name))


async def _name(db: Database) -> str:
    async with db.read() as conn:
        return str((await conn.execute(sa.select(orgs.c.name).where(orgs.c.id == DEFAULT_ORG))).scalar_one())


async def test_a_transaction_cancelled_while_it_begins_leaves_no_transaction_behind(db: Database) -> None:
    await _rename(db, "kept")  # leaves its connection kept for the next hot transaction

    async def cancelled_at_begin() -> None:
        task = asyncio.current_task()
        assert task is not None
        # Runs at the loop's next turn, before the server's answer to BEGIN is read: the first thing the
        # hot transaction awaits on a kept connection is its BEGIN.
        asyncio.get_running_loop().call_soon(task.cancel)
        await _rename(db, "never")

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(cancelled_at_begin())
    await _rename(db, "after")
    assert await _name(db) == "after"  # committed: not a savepoint inside a BEGIN nobody commits


async def test_a_transaction_cancelled_inside_its_block_holds_no_lock(db: Database) -> None:
    entered, never = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        async with db.transaction(hot=True) as conn:
            await conn.execute(orgs.update().where(orgs.c.id == DEFAULT_ORG).values(name="held"))
            entered.set()
            await never.wait()

    task = asyncio.create_task(held())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _rename(db, "after")
    assert await _name(db) == "after"


async def test_a_failed_statement_rolls_back_and_the_connection_serves_again(db: Database) -> None:
    async def failing() -> None:
        async with db.transaction(hot=True) as conn:
            await conn.execute(orgs.update().where(orgs.c.id == DEFAULT_ORG).values(name="rolled back"))
            await conn.execute(sa.text("SELECT 1 / 0"))

    with pytest.raises(sa.exc.DBAPIError):
        await failing()
    assert await _name(db) != "rolled back"
    await _rename(db, "after")
    assert await _name(db) == "after"


async def test_a_kept_connection_the_server_closed_fails_one_transaction_with_a_store_error(
    db: Database, pg_url: str
) -> None:
    await _rename(db, "kept")  # leaves its connection kept for the next hot transaction
    database = sa.make_url(pg_url).database
    async with db.read() as conn:
        ended = await conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
        assert all(row[0] for row in ended)
    with pytest.raises(StoreError, match="unreachable or unusable"):
        await _rename(db, "lost")  # a caller on the hot path retries
    await _rename(db, "after")
    assert await _name(db) == "after"


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout_without_a_ping(pg_url: str) -> None:
    """Reads ping no connection (a round trip per checkout): one the server closed while it sat in the pool is
    seen closed by the driver and replaced when checked out, so the read after it succeeds."""
    import asyncpg  # type: ignore[import-untyped]

    from quarterdeck.store import postgres_driver
    from tests.support.databases import ADMIN_URL

    db = Database(pg_url, pool_size=1)  # one connection kept in the pool: the one terminated below
    try:
        await db.upgrade()
        async with db.read() as conn:
            assert conn.sync_connection is not None
            driver = postgres_driver.driver_of(conn.sync_connection)
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_closed(_conn: object) -> None:
            if not closed.done():
                closed.set_result(None)

        driver.add_termination_listener(on_closed)
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", driver.get_server_pid())
        finally:
            await admin.close()
        await closed  # the driver has read the end of its socket
        assert await _name(db)  # served by a fresh connection, no error
        async with db.read() as conn:
            assert conn.sync_connection is not None
            assert postgres_driver.driver_of(conn.sync_connection) is not driver
    finally:
        await db.dispose()


async def test_a_read_runs_no_begin_or_commit(db: Database) -> None:
    """At READ COMMITTED a read's statements see their own snapshots either way: no transaction is opened
    (inside one, ``now()`` would be the same for both statements: the transaction's start)."""
    async with db.read() as conn:
        first = (await conn.execute(sa.text("SELECT now()"))).scalar_one()
        second = (await conn.execute(sa.text("SELECT now()"))).scalar_one()
    assert second > first
