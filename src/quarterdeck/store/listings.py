"""Organisation-scoped, paged reads for the API: runs with task counts, tasks, the queue, costs, metrics.

Every read takes the caller's organisation: a run of another organisation reads as missing.
Pages are keyset pages (``after``/``before`` the last row shown), so they stay stable while rows
are added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import AttemptStatus, TaskStatus
from quarterdeck.errors import NotFound
from quarterdeck.store.records import RunRecord, TaskRecord
from quarterdeck.store.tables import attempts, cost_entries, dependencies, runs, tasks

__all__ = [
    "Census",
    "read_attempt_durations",
    "read_census",
    "read_dependencies",
    "read_queue",
    "read_run",
    "read_run_orgs",
    "read_run_page",
    "read_task_costs",
    "read_task_counts",
    "read_task_page",
]


async def read_run(conn: AsyncConnection, run_id: str, *, org_id: str) -> RunRecord:
    """The run, or NotFound — also when it belongs to another organisation."""
    row = (await conn.execute(sa.select(runs).where(runs.c.id == run_id, runs.c.org_id == org_id))).first()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return RunRecord.from_row(row._mapping)


async def read_run_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    statuses: Sequence[str] = (),
    q: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[RunRecord]:
    """Newest runs first; ``q`` matches the id, name or goal; ``before`` is the last (created_at, id) shown."""
    query = sa.select(runs).where(runs.c.org_id == org_id)
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
    rows = await conn.execute(query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit))
    return [RunRecord.from_row(r._mapping) for r in rows]


async def read_task_counts(conn: AsyncConnection, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """For each run, how many tasks are in each status."""
    counts: dict[str, dict[str, int]] = {run_id: {} for run_id in run_ids}
    if not run_ids:
        return counts
    rows = await conn.execute(
        sa.select(tasks.c.run_id, tasks.c.status, sa.func.count())
        .where(tasks.c.run_id.in_(list(run_ids)))
        .group_by(tasks.c.run_id, tasks.c.status)
    )
    for run_id, status, n in rows:
        counts[run_id][str(status)] = int(n)
    return counts


async def read_task_page(
    conn: AsyncConnection, run_id: str, *, statuses: Sequence[str] = (), after_seq: int = -1, limit: int = 500
) -> list[TaskRecord]:
    """A run's tasks in plan order after position ``after_seq``."""
    query = sa.select(tasks).where(tasks.c.run_id == run_id, tasks.c.seq > after_seq)
    if statuses:
        query = query.where(tasks.c.status.in_(list(statuses)))
    rows = await conn.execute(query.order_by(tasks.c.seq).limit(limit))
    return [TaskRecord.from_row(r._mapping) for r in rows]


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


async def read_dependencies(conn: AsyncConnection, run_id: str) -> dict[str, list[str]]:
    """For each task of the run that has dependencies, the ids it depends on."""
    rows = await conn.execute(_DEPENDENCIES.where(_task.c.run_id == run_id))
    out: dict[str, list[str]] = {}
    for task_id, dep_id in rows:
        out.setdefault(task_id, []).append(dep_id)
    return out


async def read_task_costs(conn: AsyncConnection, run_id: str) -> dict[str, float]:
    """What each task of the run has cost so far, over all its attempts."""
    rows = await conn.execute(
        sa.select(tasks.c.id, sa.func.sum(attempts.c.cost_usd))
        .join(attempts, attempts.c.task_pk == tasks.c.pk)
        .where(tasks.c.run_id == run_id)
        .group_by(tasks.c.id)
    )
    return {task_id: float(total or 0.0) for task_id, total in rows}


async def read_queue(conn: AsyncConnection, *, org_id: str, limit: int = 200) -> dict[str, list[TaskRecord]]:
    """The organisation's ready (in claim order), running and waiting (pending) tasks."""
    orgs_runs = sa.select(runs.c.id).where(runs.c.org_id == org_id)
    order = {
        TaskStatus.READY: (tasks.c.priority.desc(), tasks.c.path_length.desc(), tasks.c.seq, tasks.c.pk),
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
