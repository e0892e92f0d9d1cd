"""Organisation-scoped, paged reads for the API: runs with task counts, tasks with costs, the queue, metrics.

Every read takes the caller's organisation: a run of another organisation reads as missing.
Pages are keyset pages (``after``/``before`` the last row shown), so they stay stable while rows
are added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import AttemptStatus, TaskStatus
from quarterdeck.errors import NotFound
from quarterdeck.store.merge_waits import TAKES_WORK
from quarterdeck.store.records import RunRecord, TaskRecord
from quarterdeck.store.tables import attempts, cost_entries, dependencies, runs, tasks

__all__ = [
    "Census",
    "RunSummary",
    "TaskSummary",
    "read_attempt_durations",
    "read_census",
    "read_dependencies",
    "read_held_runs",
    "read_queue",
    "read_run",
    "read_run_labels",
    "read_run_orgs",
    "read_run_page",
    "read_task",
    "read_task_counts",
    "read_task_dependencies",
    "read_task_page",
    "read_task_summaries",
]


# The API's hot reads are built once, with bound parameters: building a statement per request
# costs more than running it (see store/AGENTS.md).
_RUN = sa.select(runs).where(runs.c.id == sa.bindparam("run_id"), runs.c.org_id == sa.bindparam("org_id"))
_TASK_COUNTS = (
    sa.select(tasks.c.run_id, tasks.c.status, sa.func.count())
    .where(tasks.c.run_id.in_(sa.bindparam("run_ids", expanding=True)))
    .group_by(tasks.c.run_id, tasks.c.status)
)


async def read_run(conn: AsyncConnection, run_id: str, *, org_id: str) -> RunRecord:
    """The run, or NotFound — also when it belongs to another organisation."""
    row = (await conn.execute(_RUN, {"run_id": run_id, "org_id": org_id})).first()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return RunRecord.from_row(row._mapping)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run as the list shows it: the columns it needs, made straight from the row (a page holds many)."""

    id: str
    name: str
    status: str
    repo_path: str
    integration_branch: str
    budget_usd: float | None
    spent_usd: float
    created_at: datetime
    finished_at: datetime | None
    goal: str | None
    project_id: str | None
    error: str | None
    #: what a ``waiting`` run waits for
    waiting_for: str | None


# The columns in RunSummary's order, so that a row is the record's arguments.
_RUN_PAGE = (
    sa.select(*(runs.c[f.name] for f in fields(RunSummary)))
    .where(runs.c.org_id == sa.bindparam("org_id"))
    .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    .limit(sa.bindparam("limit"))
)


async def read_run_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    statuses: Sequence[str] = (),
    q: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[RunSummary]:
    """Newest runs first; ``q`` matches the id, name or goal; ``before`` is the last (created_at, id) shown."""
    query = _RUN_PAGE
    if statuses:
        query = query.where(runs.c.status.in_(list(statuses)))
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                sa.func.lower(runs.c.id).like(pattern, escape="\\"),
                sa.func.lower(runs.c.name).like(pattern, escape="\\"),
                sa.func.lower(sa.func.coalesce(runs.c.goal, "")).like(pattern, escape="\\"),
            )
        )
    if before is not None:
        created, run_id = before
        query = query.where(
            sa.or_(runs.c.created_at < created, sa.and_(runs.c.created_at == created, runs.c.id < run_id))
        )
    rows = await conn.execute(query, {"org_id": org_id, "limit": limit})
    return [RunSummary(*row) for row in rows]


async def read_task_counts(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """For each run, how many tasks are in each status."""
    counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return counts
    rows = await conn.execute(_TASK_COUNTS, {"run_ids": list(run_ids)})
    for run_id, status, n in rows:
        counts[run_id][str(status)] = int(n)
    return counts


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """A task as lists show it (no prompt, options or checkpoint to decode), with what its attempts cost."""

    id: str
    run_id: str
    seq: int
    title: str
    status: str
    priority: int
    runtime: str
    role: str | None
    attempts: int
    revisions: int
    path_length: int
    estimate_s: float | None
    path_estimate_ms: int
    error: str | None
    commit_sha: str | None
    started_at: datetime | None
    finished_at: datetime | None
    cost_usd: float


_TASK_COST = (
    sa.select(sa.func.coalesce(sa.func.sum(attempts.c.cost_usd), 0.0))
    .where(attempts.c.task_pk == tasks.c.pk)
    .scalar_subquery()
)
# The columns in TaskSummary's order, so that a row is the record's arguments.
_SUMMARIES = sa.select(
    *(tasks.c[name] for name in (f.name for f in fields(TaskSummary)) if name != "cost_usd"), _TASK_COST
).order_by(tasks.c.seq)
_RUN_TASKS = _SUMMARIES.where(tasks.c.run_id == sa.bindparam("run_id"))
_ORGS_RUN = sa.select(runs.c.id).where(runs.c.id == sa.bindparam("run_id"), runs.c.org_id == sa.bindparam("org_id"))
_TASK_PAGE = _RUN_TASKS.where(tasks.c.run_id.in_(_ORGS_RUN), tasks.c.seq > sa.bindparam("after_seq")).limit(
    sa.bindparam("limit")
)
_TASK_PAGE_BY_STATUS = _TASK_PAGE.where(tasks.c.status.in_(sa.bindparam("statuses", expanding=True)))
_ORGS_TASK = sa.select(tasks).where(
    tasks.c.run_id == sa.bindparam("run_id"), tasks.c.id == sa.bindparam("task_id"), tasks.c.run_id.in_(_ORGS_RUN)
)


def _summaries(rows: Iterable[Sequence[Any]]) -> list[TaskSummary]:
    return [TaskSummary(*row) for row in rows]


async def read_task_summaries(conn: AsyncConnection, run_id: str) -> list[TaskSummary]:
    """Every task of the run (read it with ``read_run`` first: this read is not scoped), in plan order."""
    return _summaries(await conn.execute(_RUN_TASKS, {"run_id": run_id}))


async def read_task_page(
    conn: AsyncConnection,
    run_id: str,
    *,
    org_id: str,
    statuses: Sequence[str] = (),
    after_seq: int = -1,
    limit: int = 500,
) -> list[TaskSummary]:
    """A run's tasks in plan order after position ``after_seq``; NotFound when the run is not the org's."""
    params: dict[str, Any] = {"run_id": run_id, "org_id": org_id, "after_seq": after_seq, "limit": limit}
    if statuses:
        params["statuses"] = list(statuses)
    found = _summaries(await conn.execute(_TASK_PAGE_BY_STATUS if statuses else _TASK_PAGE, params))
    if not found:
        await read_run(conn, run_id, org_id=org_id)  # an empty page of a run, or no such run?
    return found


async def read_task(conn: AsyncConnection, run_id: str, task_id: str, *, org_id: str) -> TaskRecord:
    """One task of one of the organisation's runs, or NotFound (naming the run or the task)."""
    row = (await conn.execute(_ORGS_TASK, {"run_id": run_id, "task_id": task_id, "org_id": org_id})).first()
    if row is None:
        await read_run(conn, run_id, org_id=org_id)
        raise NotFound(f"no task {task_id!r} in run {run_id!r}")
    return TaskRecord.from_row(row._mapping)


# Built once: a new alias of a wide table rebuilds its column collection, which costs more than the query.
_task = tasks.alias("task")
_dep = tasks.alias("dep")
_DEPENDENCIES = (
    sa.select(_task.c.id, _dep.c.id)
    .select_from(dependencies)
    .join(_task, _task.c.pk == dependencies.c.task_pk)
    .join(_dep, _dep.c.pk == dependencies.c.depends_on_pk)
    .order_by(_task.c.seq, _dep.c.seq)
)
_RUN_DEPENDENCIES = _DEPENDENCIES.where(_task.c.run_id == sa.bindparam("run_id"))


async def read_dependencies(conn: AsyncConnection, run_id: str) -> dict[str, list[str]]:
    """For each task of the run that has dependencies, the ids it depends on."""
    rows = await conn.execute(_RUN_DEPENDENCIES, {"run_id": run_id})
    out: dict[str, list[str]] = {}
    for task_id, dep_id in rows:
        out.setdefault(task_id, []).append(dep_id)
    return out


_TASK_DEPENDENCIES = (
    sa.select(_dep.c.id)
    .select_from(dependencies)
    .join(_dep, _dep.c.pk == dependencies.c.depends_on_pk)
    .where(dependencies.c.task_pk == sa.bindparam("task_pk"))
    .order_by(_dep.c.seq)
)


async def read_task_dependencies(conn: AsyncConnection, task_pk: int) -> list[str]:
    """The ids of the tasks one task depends on, in plan order."""
    return list((await conn.execute(_TASK_DEPENDENCIES, {"task_pk": task_pk})).scalars())


async def read_queue(conn: AsyncConnection, *, org_id: str, limit: int = 200) -> dict[str, list[TaskRecord]]:
    """The organisation's ready (in claim order), running and waiting (pending) tasks."""
    orgs_runs = sa.select(runs.c.id).where(runs.c.org_id == org_id)
    order = {
        TaskStatus.READY: (
            tasks.c.priority.desc(),
            tasks.c.path_estimate_ms.desc(),
            tasks.c.path_length.desc(),
            tasks.c.seq,
            tasks.c.pk,
        ),
        TaskStatus.RUNNING: (tasks.c.started_at, tasks.c.pk),
        TaskStatus.PENDING: (tasks.c.created_at, tasks.c.run_id, tasks.c.seq),
    }
    out: dict[str, list[TaskRecord]] = {}
    for status, ordering in order.items():
        rows = await conn.execute(
            sa.select(tasks)
            .where(tasks.c.status == status, tasks.c.run_id.in_(orgs_runs))
            .order_by(*ordering)
            .limit(limit)
        )
        out[str(status)] = [TaskRecord.from_row(r._mapping) for r in rows]
    return out


async def read_run_labels(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The name and status of each run, to show beside its tasks."""
    if not run_ids:
        return {}
    rows = await conn.execute(sa.select(runs.c.id, runs.c.name, runs.c.status).where(runs.c.id.in_(list(run_ids))))
    return {run_id: (name, str(status)) for run_id, name, status in rows}


async def read_held_runs(conn: AsyncConnection, run_ids: Sequence[str]) -> set[str]:
    """Those of the runs whose ready tasks no worker may claim (paused, or waiting for a decision other than a
    merge: ``store/merge_waits.TAKES_WORK``)."""
    if not run_ids:
        return set()
    rows = await conn.execute(sa.select(runs.c.id).where(runs.c.id.in_(list(run_ids)), ~TAKES_WORK))
    return set(rows.scalars().all())


async def read_run_orgs(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, str]:
    """The organisation of each run."""
    if not run_ids:
        return {}
    rows = await conn.execute(sa.select(runs.c.id, runs.c.org_id).where(runs.c.id.in_(list(run_ids))))
    return {run_id: org_id for run_id, org_id in rows}


@dataclass(frozen=True, slots=True)
class Census:
    """Counts across every organisation, for the operator's metrics."""

    runs: dict[str, int]
    tasks: dict[str, int]
    ready_now: int
    cost_usd: float


async def read_census(conn: AsyncConnection, *, now: datetime) -> Census:
    run_rows = await conn.execute(sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status))
    task_rows = await conn.execute(sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status))
    ready = await conn.execute(
        sa.select(sa.func.count()).where(
            tasks.c.status == TaskStatus.READY, sa.or_(tasks.c.not_before.is_(None), tasks.c.not_before <= now)
        )
    )
    cost = await conn.execute(sa.select(sa.func.coalesce(sa.func.sum(cost_entries.c.cost_usd), 0.0)))
    return Census(
        runs={str(s): int(n) for s, n in run_rows},
        tasks={str(s): int(n) for s, n in task_rows},
        ready_now=int(ready.scalar_one()),
        cost_usd=float(cost.scalar_one()),
    )


async def read_attempt_durations(conn: AsyncConnection) -> list[tuple[str, float]]:
    """(status, seconds) of every finished attempt."""
    rows = await conn.execute(
        sa.select(attempts.c.status, attempts.c.started_at, attempts.c.finished_at).where(
            attempts.c.finished_at.is_not(None), attempts.c.status != AttemptStatus.RUNNING
        )
    )
    return [(str(status), max(0.0, (end - start).total_seconds())) for status, start, end in rows]
