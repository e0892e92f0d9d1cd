"""One organisation's tasks as the API and the MCP server read them: a page of a run's tasks, one task in detail
(attempts, review verdicts, dependencies), its change as git shows it, and its events.

Each read is one read transaction; a task of another organisation's run is not found (``NotFound``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.app import diffs, vault
from quarterdeck.security import redaction
from quarterdeck.security.keyring import Keyring
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import listings
from quarterdeck.store import tasks as task_store
from quarterdeck.store.crews import VerdictRecord
from quarterdeck.store.database import Database
from quarterdeck.store.listings import TaskSummary
from quarterdeck.store.records import AttemptRecord, EventRecord, TaskRecord

__all__ = [
    "TaskDetail",
    "TaskPage",
    "VerdictRecord",
    "read_task",
    "read_task_change",
    "read_task_detail",
    "read_task_events",
    "read_task_page",
]


@dataclass(frozen=True, slots=True)
class TaskPage:
    """Up to ``limit`` tasks of a run in plan order, the run's dependencies (task id → the ids it depends on),
    and whether more follow."""

    tasks: list[TaskSummary]
    dependencies: dict[str, list[str]]
    more: bool


@dataclass(frozen=True, slots=True)
class TaskDetail:
    """A task with its attempts (oldest first), its review verdicts and the ids it depends on."""

    task: TaskRecord
    attempts: list[AttemptRecord]
    verdicts: list[VerdictRecord]
    dependencies: list[str]


async def read_task(db: Database, run_id: str, task_id: str, *, org_id: str) -> TaskRecord:
    """The task of the organisation's run, or NotFound."""
    async with db.read() as conn:
        return await listings.read_task(conn, run_id, task_id, org_id=org_id)


async def read_task_page(
    db: Database, run_id: str, *, org_id: str, statuses: Sequence[str] = (), after_seq: int = -1, limit: int = 200
) -> TaskPage:
    """The run's tasks in plan order after the plan position ``after_seq`` (of ``statuses``, when given)."""
    async with db.read() as conn:
        found = await listings.read_task_page(
            conn, run_id, org_id=org_id, statuses=statuses, after_seq=after_seq, limit=limit + 1
        )
        deps = await listings.read_dependencies(conn, run_id) if found else {}
    return TaskPage(tasks=found[:limit], dependencies=deps, more=len(found) > limit)


async def read_task_detail(db: Database, run_id: str, task_id: str, *, org_id: str) -> TaskDetail:
    """The task with its attempts, verdicts and dependencies, or NotFound."""
    async with db.read() as conn:
        task = await listings.read_task(conn, run_id, task_id, org_id=org_id)
        attempts = await task_store.read_attempts(conn, task.pk)
        verdicts = await crew_store.read_verdicts(conn, run_id, task_id)
        deps = await listings.read_task_dependencies(conn, task.pk)
    return TaskDetail(task=task, attempts=attempts, verdicts=verdicts, dependencies=deps)


async def read_task_change(db: Database, keys: Keyring | None, run_id: str, task_id: str, *, org_id: str) -> diffs.Diff:
    """The task's change: its landed commit, else its newest attempt's, redacted (with every secret of the
    organisation, when ``keys`` open them: it is read from git, not from the store)."""
    async with db.read() as conn:
        task = await listings.read_task(conn, run_id, task_id, org_id=org_id)
        run = await listings.read_run(conn, run_id, org_id=org_id)
        attempts = await task_store.read_attempts(conn, task.pk)
    commit = task.commit_sha or next((a.commit_sha for a in reversed(attempts) if a.commit_sha), None)
    if keys is not None:
        await vault.remember_secrets(db, keys, org_id=org_id)
    shown = await diffs.commit_diff(Path(run.repo_path), commit)
    return diffs.Diff(
        commit=shown.commit,
        stat=redaction.redact(shown.stat),
        diff=redaction.redact(shown.diff),
        truncated=shown.truncated,
    )


async def read_task_events(
    db: Database, run_id: str, task_id: str, *, org_id: str, after_id: int = 0, limit: int = 200
) -> list[EventRecord]:
    """The task's events after ``after_id``, oldest first, or NotFound for a task the organisation has not."""
    async with db.read() as conn:
        await listings.read_task(conn, run_id, task_id, org_id=org_id)
        return await event_store.read_events(conn, run_id, after_id=after_id, task_id=task_id, limit=limit)
