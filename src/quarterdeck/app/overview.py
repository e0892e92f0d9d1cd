"""What ``quarterdeck status`` shows: the latest runs, or one run with its tasks — read quickly.

Part of the application layer (beside ``app.Quarterdeck``), for the commands that only look. On the
embedded default, a SQLite file with a current schema, the reads go through the standard library's
``sqlite3`` alone (``store/sqlite_reads.py``): no SQLAlchemy, no pydantic, no event loop, so the command
starts in a fraction of a second. Any other database (PostgreSQL, a SQLite file still to be migrated,
or one the fast reads cannot open) is read through ``Quarterdeck``, as every other command reads it;
both ways return the same records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from quarterdeck import locations
from quarterdeck.store.records import EventRecord, RunRecord, TaskRecord

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from quarterdeck.app import Quarterdeck

__all__ = [
    "PRINTING",
    "RunView",
    "database_missing",
    "database_url",
    "last_meaningful_line",
    "latest_runs",
    "read_view",
    "shown_url",
]

_T = TypeVar("_T")

#: the events whose text a failure's note is taken from
PRINTING = ("verify.result", "setup.result", "agent.output", "agent.result")


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with its tasks, as the CLI and API show it."""

    run: RunRecord
    tasks: tuple[TaskRecord, ...]
    #: for failed tasks (when asked for): the last meaningful line their checks or agent printed
    failures: Mapping[str, str] = field(default_factory=dict)


def last_meaningful_line(events: Sequence[EventRecord]) -> str | None:
    """The last line a failed task's checks or agent printed that says something (not blank, not a rule)."""
    for event in reversed(events):
        payload = event.payload
        if event.type in ("verify.result", "setup.result"):
            if payload.get("exit_code") in (0, None):
                continue
            text = str(payload.get("output") or "")
        elif event.type == "agent.output" or (event.type == "agent.result" and not payload.get("ok")):
            text = str(payload.get("text") or payload.get("error") or "")
        else:
            continue
        meaningful = [line.strip() for line in text.splitlines() if line.strip().strip("-=~^*_.#>|")]
        if meaningful:
            return meaningful[-1]
    return None


def _failed(task: TaskRecord) -> bool:
    """Whether a task's note gets the last line it printed (``RunView.failures``)."""
    return task.status.value in ("failed", "conflict")


def database_url() -> str:
    """The database this process uses (``Settings().resolved_database_url()``)."""
    return locations.database_url()


def shown_url(url: str) -> str:
    """The URL as messages show it: any password hidden."""
    if locations.plain_sqlite_path(url) is not None:
        return url  # nothing to hide, and SQLAlchemy would render it as written
    from quarterdeck.locations import mask_url

    return mask_url(url)


def database_missing(url: str) -> bool:
    """A SQLite file not created yet: nothing to show, and nothing that looking should create."""
    return url.startswith(locations.SQLITE_PREFIX) and not Path(url.removeprefix(locations.SQLITE_PREFIX)).exists()


def latest_runs(url: str, *, limit: int = 20) -> list[RunRecord]:
    """The newest runs first (``Quarterdeck.runs``)."""
    from quarterdeck.store import sqlite_reads

    def fast(conn: sqlite3.Connection) -> list[RunRecord]:
        return sqlite_reads.read_runs(conn, limit=limit)

    async def slow(app: Quarterdeck) -> list[RunRecord]:
        return await app.runs(limit=limit)

    return _read(url, fast, slow)


def read_view(url: str, run_id: str, *, failures: bool = False) -> RunView:
    """The run and its tasks; with ``failures``, the last meaningful output line of each failed task
    (``Quarterdeck.view``).

    Raises:
        NotFound: there is no such run.
    """
    from quarterdeck.store import sqlite_reads

    def fast(conn: sqlite3.Connection) -> RunView:
        run = sqlite_reads.read_run(conn, run_id)
        tasks = sqlite_reads.read_tasks(conn, run_id)
        lines: dict[str, str] = {}
        for task in tasks if failures else ():
            if _failed(task):
                printed = sqlite_reads.read_events(conn, run_id, task_id=task.id, types=PRINTING, limit=100_000)
                if (line := last_meaningful_line(printed)) is not None:
                    lines[task.id] = line
        return RunView(run=run, tasks=tuple(tasks), failures=lines)

    async def slow(app: Quarterdeck) -> RunView:
        return await app.view(run_id, failures=failures)

    return _read(url, fast, slow)


def _read(url: str, fast: Callable[[sqlite3.Connection], _T], slow: Callable[[Quarterdeck], Awaitable[_T]]) -> _T:
    """``fast`` on a current SQLite file through ``sqlite3``; else ``slow`` through the store (migrating
    the database only if it must: the schema is usually current, and reading first spares the migrations)."""
    if (path := locations.plain_sqlite_path(url)) is not None:
        from quarterdeck.store import sqlite_reads

        try:
            with sqlite_reads.open_current(path) as conn:
                if conn is not None:
                    return fast(conn)
        except sqlite3.Error:
            pass  # the store's own way says what is wrong, if anything is
    import asyncio

    from quarterdeck.app import Quarterdeck
    from quarterdeck.errors import StoreError
    from quarterdeck.settings import Settings

    settings = Settings(database_url=url)  # the rest from the environment, as every command reads it

    async def through_the_store(migrate: bool) -> _T:
        async with Quarterdeck(settings, migrate=migrate) as app:
            return await slow(app)

    try:
        return asyncio.run(through_the_store(migrate=False))
    except StoreError:
        return asyncio.run(through_the_store(migrate=True))
