"""``quarterdeck status``'s quick reads (``app/overview.py``, ``store/sqlite_reads.py``) match the store's."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from quarterdeck import locations
from quarterdeck.app import Quarterdeck, overview
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import sqlite_reads
from quarterdeck.store import tasks as task_store


def _task(task_id: str, *deps: str, actions: list[dict[str, Any]], **extra: Any) -> plans.TaskSpec:
    return plans.TaskSpec(
        id=task_id, title=f"Task {task_id}", depends_on=deps, runtime="scripted", options={"actions": actions}, **extra
    )


async def _finished_run(app: Quarterdeck, repo: Path) -> str:
    """A failed run with a bit of everything: a success, a failed check that printed, a blocked dependant,
    an empty task allowed to be empty, and a budget."""
    plan = plans.Plan(
        name="mixed",
        tasks=(
            _task("ok", actions=[{"write": "ok.txt", "content": "ok"}], files=["ok.txt"]),
            _task("empty", actions=[], allow_empty=True),
            _task(
                "checked",
                actions=[{"write": "x.txt", "content": "x"}],
                verify=("echo 'all good so far'; echo '-----'; echo 'the real reason'; echo; exit 3",),
            ),
            _task("after", "checked", actions=[{"write": "y.txt", "content": "y"}]),
        ),
    )
    record = await app.submit(plan, repo=repo, budget_usd=5.0)
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.FAILED
    return record.id


async def test_the_quick_reads_return_the_stores_records(app: Quarterdeck, repo: Path) -> None:
    run_id = await _finished_run(app, repo)
    url = app.settings.resolved_database_url()
    expected = await app.view(run_id, failures=True)
    assert expected.failures == {"checked": "the real reason"}

    # what `quarterdeck status` calls, on either database (through the store on PostgreSQL)
    assert await asyncio.to_thread(overview.read_view, url, run_id, failures=True) == expected
    assert await asyncio.to_thread(overview.latest_runs, url) == await app.runs()

    path = locations.plain_sqlite_path(url)
    if app.db.dialect != "sqlite":
        assert path is None
        return
    assert path is not None
    async with app.db.read() as conn:
        runs = await run_store.read_runs(conn, limit=5)
        run = await run_store.read_run(conn, run_id)
        tasks = await task_store.read_tasks(conn, run_id)
        events = await event_store.read_events(conn, run_id, task_id="checked", types=overview.PRINTING)
    with sqlite_reads.open_current(path) as quick:
        assert quick is not None
        assert sqlite_reads.read_runs(quick, limit=5) == runs
        assert sqlite_reads.read_run(quick, run_id) == run
        assert sqlite_reads.read_tasks(quick, run_id) == tasks
        assert sqlite_reads.read_events(quick, run_id, task_id="checked", types=overview.PRINTING) == events
    assert {t.allow_empty for t in tasks} == {True, False}
    assert events


async def test_a_database_not_at_the_current_schema_is_left_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "quarterdeck.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id TEXT)")  # no stamp: the store has never opened it
    with sqlite_reads.open_current(path) as quick:
        assert quick is None
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")  # an older schema: the store migrates it
    with sqlite_reads.open_current(path) as quick:
        assert quick is None
