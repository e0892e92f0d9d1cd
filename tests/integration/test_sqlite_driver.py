"""The store's SQLite connections (sqlite3 on the event loop's thread) give SQLAlchemy what a plain cursor would."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from quarterdeck.store.database import Database

_items = sa.Table(
    "items", sa.MetaData(), sa.Column("pk", sa.Integer, primary_key=True), sa.Column("name", sa.String, nullable=False)
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'driver.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(_items.metadata.create_all)
    yield database
    await database.dispose()


async def test_inserts_report_their_primary_keys_and_many_rows_arrive_in_order(db: Database) -> None:
    async with db.transaction() as conn:
        first = await conn.execute(_items.insert().values(name="a"))
        assert first.inserted_primary_key == (1,)  # from the cursor's lastrowid
        await conn.execute(_items.insert(), [{"name": f"n{i}"} for i in range(500)])
    async with db.read() as conn:
        names = (await conn.execute(sa.select(_items.c.name).order_by(_items.c.pk))).scalars().all()
    assert names == ["a", *(f"n{i}" for i in range(500))]


async def test_updates_report_rowcounts_with_and_without_returning(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(_items.insert(), [{"name": "x"}, {"name": "x"}, {"name": "y"}])
        plain = await conn.execute(_items.update().where(_items.c.name == "x").values(name="z"))
        assert plain.rowcount == 2
        returned = await conn.execute(
            _items.update().where(_items.c.name == "z").values(name="w").returning(_items.c.pk)
        )
        assert sorted(returned.scalars()) == [1, 2]
        assert (await conn.execute(_items.update().where(_items.c.name == "none").values(name="v"))).rowcount == 0


async def test_a_failed_statement_raises_and_rolls_the_transaction_back(db: Database) -> None:
    async def insert_twice() -> None:
        async with db.transaction() as conn:
            await conn.execute(_items.insert().values(pk=1, name="a"))
            await conn.execute(_items.insert().values(pk=1, name="b"))

    with pytest.raises(sa.exc.IntegrityError):
        await insert_twice()
    async with db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(_items))).scalar_one() == 0


async def test_results_can_be_read_row_by_row_and_in_chunks(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(_items.insert(), [{"name": f"n{i}"} for i in range(10)])
    async with db.read() as conn:
        result = await conn.execute(sa.select(_items.c.pk).order_by(_items.c.pk))
        assert result.fetchone() == (1,)
        assert [row.pk for row in result.fetchmany(3)] == [2, 3, 4]
        assert [row.pk for row in result] == [5, 6, 7, 8, 9, 10]
        streamed = await conn.stream(sa.select(_items.c.pk).order_by(_items.c.pk))
        assert [row.pk async for row in streamed] == list(range(1, 11))


async def test_a_writer_awaits_another_connections_write_lock_without_blocking_the_loop(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute(_items.insert().values(name="second"))

        writer = asyncio.create_task(write())
        loop = asyncio.get_running_loop()
        longest = 0.0
        for _ in range(30):  # the loop keeps turning while the writer waits for the lock
            before = loop.time()
            await asyncio.sleep(0.002)
            longest = max(longest, loop.time() - before)
        assert not writer.done()
        assert longest < 0.5
        other.execute("INSERT INTO items (name) VALUES ('first')")
        other.execute("COMMIT")
        await asyncio.wait_for(writer, 10)
    finally:
        other.close()
    async with db.read() as conn:
        names = (await conn.execute(sa.select(_items.c.name).order_by(_items.c.pk))).scalars().all()
    assert names == ["first", "second"]
