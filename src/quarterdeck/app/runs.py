"""Reading runs: as the CLI reads them (``RunReads``: a run with its tasks, its events, its attempts, the
analytics of ended tasks), and one organisation's as the API and the MCP server read them: a page of the
list, one run with its task counts, one run in detail (tasks, dependencies, pull requests), the queue.

Each read is one read transaction; a run of another organisation is not found (``NotFound``), like an
unknown one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck.app import overview
from quarterdeck.app.overview import RunView
from quarterdeck.app.parts import Parts
from quarterdeck.domain import analytics
from quarterdeck.errors import InputError
from quarterdeck.store import events as event_store
from quarterdeck.store import forges as forge_store
from quarterdeck.store import listings
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.forges import LinkRecord
from quarterdeck.store.listings import RunSummary, TaskSummary
from quarterdeck.store.records import AttemptRecord, EventRecord, RunRecord, TaskRecord
from quarterdeck.store.types import utcnow

if TYPE_CHECKING:
    from quarterdeck.app.facade import Quarterdeck

__all__ = [
    "LinkRecord",
    "Queue",
    "RunDetail",
    "RunPage",
    "RunReads",
    "RunSummary",
    "TaskSummary",
    "read_queue",
    "read_run",
    "read_run_counts",
    "read_run_detail",
    "read_run_page",
]


class RunReads(Parts):
    async def find_run_of_task(self, task_id: str) -> str:
        """The newest run that has a task called ``task_id``."""
        async with self.db.read() as conn:
            return await task_store.read_newest_run_of_task(conn, task_id)

    async def view(self, run_id: str, *, failures: bool = False) -> RunView:
        """The run and its tasks; with ``failures``, the last meaningful output line of each failed task."""
        async with self.db.read() as conn:
            run = await run_store.read_run(conn, run_id)
            tasks = await task_store.read_tasks(conn, run_id)
            lines: dict[str, str] = {}
            for task in tasks if failures else ():
                if task.status.value not in ("failed", "conflict"):
                    continue
                printed = await event_store.read_events(
                    conn, run_id, task_id=task.id, types=overview.PRINTING, limit=100_000
                )
                if (line := overview.last_meaningful_line(printed)) is not None:
                    lines[task.id] = line
        return RunView(run=run, tasks=tuple(tasks), failures=lines)

    async def analytics(
        self,
        *,
        by: analytics.Grouping = "role",
        since: str | None = None,
        until: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> analytics.Report:
        """How the organisation's ended tasks did in a window (default: the last 30 days), grouped ``by``
        role, runtime, model, project, run, story, day or week (see ``domain/analytics.py``).

        Raises:
            InputError: ``by`` is unknown, or the window is malformed or empty.
        """
        from quarterdeck.store import analytics as analytics_store

        if by not in analytics.GROUPINGS:
            raise InputError(f"unknown grouping {by!r}: use {', '.join(analytics.GROUPINGS)}")
        try:
            start, end = analytics.parse_window(since, until, utcnow())
        except ValueError as exc:
            raise InputError(str(exc)) from None
        async with self.db.read() as conn:
            facts = await analytics_store.read_task_facts(
                conn, org_id=org_id or self.settings.org, since=start, until=end, project_id=project_id
            )
        total = analytics.summarise(facts, None)
        return analytics.Report(start, end, by, analytics.summarise(facts, by), total[0] if total else None)

    async def runs(self, *, limit: int = 20) -> list[RunRecord]:
        async with self.db.read() as conn:
            return await run_store.read_runs(conn, limit=limit)

    def local_repository(self, run: RunRecord) -> Path:
        """Where this machine works on the run's repository: its path, or its cache of the remote it names."""
        from quarterdeck.workspaces import remote

        if remote.is_url(run.repo_path):
            return remote.cache_dir(self.settings.resolved_repo_cache(), run.repo_path)
        return Path(run.repo_path)

    async def attempts(self, task: TaskRecord) -> list[AttemptRecord]:
        async with self.db.read() as conn:
            return await task_store.read_attempts(conn, task.pk)

    async def events(
        self,
        run_id: str,
        *,
        after_id: int = 0,
        limit: int = 1000,
        task_id: str | None = None,
        types: Sequence[str] = (),
    ) -> list[EventRecord]:
        """A run's events after ``after_id``, oldest first (of one task, of some types, when given)."""
        async with self.db.read() as conn:
            return await event_store.read_events(
                conn, run_id, after_id=after_id, limit=limit, task_id=task_id, types=types
            )


@dataclass(frozen=True, slots=True)
class RunPage:
    """Up to ``limit`` runs, newest first, each with its task counts, and whether more follow."""

    runs: list[RunSummary]
    counts: dict[str, dict[str, int]]
    more: bool


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run with its tasks in plan order, their dependencies (task id → the ids it depends on) and the run's
    pull requests."""

    run: RunRecord
    tasks: list[TaskSummary]
    dependencies: dict[str, list[str]]
    links: list[LinkRecord]


@dataclass(frozen=True, slots=True)
class Queue:
    """The organisation's tasks by lane, each lane up to its limit; ``runs``: each task's run's name and status;
    ``waits``: why a ready task no live worker can take waits (run id, task id → the reason)."""

    #: in the order workers claim them
    ready: list[TaskRecord]
    running: list[TaskRecord]
    #: waiting for their dependencies, then the ready tasks of runs that may not start them (paused, or
    #: waiting for a decision other than a merge)
    waiting: list[TaskRecord]
    runs: dict[str, tuple[str, str]]
    waits: dict[tuple[str, str], str]


async def read_run(db: Database, run_id: str, *, org_id: str) -> RunRecord:
    """The organisation's run, or NotFound."""
    async with db.read() as conn:
        return await listings.read_run(conn, run_id, org_id=org_id)


async def read_run_counts(db: Database, run_id: str, *, org_id: str) -> tuple[RunRecord, dict[str, int]]:
    """The organisation's run and how many of its tasks are in each status, or NotFound."""
    async with db.read() as conn:
        run = await listings.read_run(conn, run_id, org_id=org_id)
        counts = await listings.read_task_counts(conn, [run.id])
    return run, counts[run.id]


async def read_run_page(
    db: Database,
    *,
    org_id: str,
    statuses: Sequence[str] = (),
    q: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> RunPage:
    """The organisation's runs, newest first (``before``: the last (created_at, id) shown; ``q`` matches the id,
    name or goal)."""
    async with db.read() as conn:
        found = await listings.read_run_page(
            conn, org_id=org_id, statuses=statuses, q=q, before=before, limit=limit + 1
        )
        shown = found[:limit]
        counts = await listings.read_task_counts(conn, [r.id for r in shown])
    return RunPage(runs=shown, counts=counts, more=len(found) > limit)


async def read_run_detail(db: Database, run_id: str, *, org_id: str) -> RunDetail:
    """The organisation's run with its tasks, their dependencies and its pull requests, or NotFound."""
    async with db.read() as conn:
        run = await listings.read_run(conn, run_id, org_id=org_id)
        tasks = await listings.read_task_summaries(conn, run_id)
        deps = await listings.read_dependencies(conn, run_id)
        links = await forge_store.read_links(conn, run_id)
    return RunDetail(run=run, tasks=tasks, dependencies=deps, links=links)


async def read_queue(app: Quarterdeck, *, org_id: str) -> Queue:
    """The organisation's ready (in claim order), running and waiting tasks, up to 200 of each.

    A ready task of a paused run (or one waiting for a decision other than a merge) is not waiting for a
    worker (none may claim it): it is listed as waiting, after the others."""
    async with app.db.read() as conn:
        lanes = await listings.read_queue(conn, org_id=org_id)
        run_ids = {t.run_id for lane in lanes.values() for t in lane}
        labels = await listings.read_run_labels(conn, sorted(run_ids))
        held = await listings.read_held_runs(conn, sorted({t.run_id for t in lanes["ready"]}))
    waits: dict[tuple[str, str], str] = {}
    for run_id in sorted({t.run_id for t in lanes["ready"]}):
        waits |= {(run_id, task_id): why for task_id, why in (await app.waiting(run_id)).items()}
    stopped = [t for t in lanes["ready"] if t.run_id in held]
    return Queue(
        ready=[t for t in lanes["ready"] if t.run_id not in held],
        running=lanes["running"],
        waiting=[*lanes["pending"], *stopped],
        runs=labels,
        waits=waits,
    )
