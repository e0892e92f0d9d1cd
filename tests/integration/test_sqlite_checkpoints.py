"""SQLite's WAL is checkpointed on a thread of its own, never inside a commit on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import sqlalchemy as sa

from quarterdeck.domain import plans
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.checkpointer import Checkpointer
from quarterdeck.store.database import Database

DEADLINE_S = 10.0


async def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    await db.upgrade()
    plan = plans.Plan(name="p", tasks=(plans.TaskSpec(id="t", title="t"),))
    async with db.transaction() as conn:
        await run_store.create_run(
            conn, run_id="r", plan=plan, repo_path="/r", base_ref="HEAD", integration_branch="qd"
        )
    return db


async def test_commits_leave_the_wal_to_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    db = await _database(path)
    checkpointer = db._checkpointer
    assert isinstance(checkpointer, Checkpointer)
    try:
        async with db.read() as conn:
            assert (await conn.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
        # Well past the 1,000 pages at which a commit would have checkpointed by itself.
        for n in range(300):
            async with db.transaction() as conn:
                await event_store.create_events(conn, [event_store.NewEvent("r", "x", {"text": "y" * 4000, "n": n})])
        wal = Path(f"{path}-wal")
        assert wal.stat().st_size > 1000 * 4096, "no commit checkpointed on the loop"
        assert checkpointer.running
        checkpointer.ran.clear()
        assert await asyncio.to_thread(checkpointer.ran.wait, DEADLINE_S)
        probe = sqlite3.connect(path)
        try:
            busy, pages, copied = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            probe.close()
        assert (busy, copied) == (0, pages), "the thread copied every WAL page into the database"
    finally:
        await db.dispose()
    assert not checkpointer.running
    assert not Path(f"{path}-wal").exists(), "the last connection to close checkpointed and removed the WAL"


def test_an_in_memory_database_has_no_checkpoint_thread() -> None:
    assert Database("sqlite:///:memory:")._checkpointer is None
    assert Database("postgresql://postgres@127.0.0.1:5432/test")._checkpointer is None
