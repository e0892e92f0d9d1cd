"""Run repository: create a run with its tasks and dependencies, read it, finish it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import conflicts, plans
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.statuses import RunStatus, TaskStatus, WaitingFor
from quarterdeck.errors import NotFound
from quarterdeck.store import compiled, supervision
from quarterdeck.store.records import RunRecord
from quarterdeck.store.tables import DEFAULT_ORG, dependencies, runs, task_conflicts, task_requirements, tasks
from quarterdeck.store.types import utcnow

__all__ = [
    "TAKING_WORK",
    "create_plan_tasks",
    "create_planning_run",
    "create_run",
    "delete_plan_tasks",
    "finish_run_if_done",
    "first_unfinished",
    "lock_run",
    "read_run",
    "read_runs",
    "update_run_status",
]


#: the columns a new task is given (the others start at their defaults, or null)
_TASK_COLUMNS = (
    "run_id", "id", "seq", "title", "prompt", "runtime", "options", "verify", "acceptance_criteria",
    "source_path", "source_line", "priority", "path_length", "max_attempts", "timeout_s", "budget_usd",
    "max_revisions", "not_before", "role", "allow_empty", "files", "provider_key", "status", "pending_deps",
    "attempts", "estimate_s", "path_estimate_ms",
)  # fmt: skip
#: compiled once, one execution on PostgreSQL: a plan may hold thousands of tasks
_INSERT_TASKS = compiled.RowsInsert(tasks, _TASK_COLUMNS, shared=("created_at",))


def _run_row(
    *,
    run_id: str,
    name: str,
    status: RunStatus,
    repo_path: str,
    base_ref: str,
    integration_branch: str,
    merge_strategy: str,
    plan_path: str | None,
    budget_usd: float | None,
    org_id: str,
    project_id: str | None,
    goal: str | None,
    traceparent: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new run's row: nothing spent or reserved, not finished, waiting for no one."""
    return {
        "id": run_id,
        "name": name,
        "status": status,
        "repo_path": repo_path,
        "base_ref": base_ref,
        "integration_branch": integration_branch,
        "merge_strategy": merge_strategy,
        "plan_path": plan_path,
        "budget_usd": budget_usd,
        "spent_usd": 0.0,
        "reserved_usd": 0.0,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "error": None,
        "org_id": org_id,
        "project_id": project_id,
        "goal": goal,
        "traceparent": traceparent,
        "waiting_for": None,
    }


async def create_run(
    conn: AsyncConnection,
    *,
    run_id: str,
    plan: plans.Plan,
    repo_path: str,
    base_ref: str,
    integration_branch: str,
    budget_usd: float | None = None,
    merge_strategy: str = "squash",
    org_id: str = DEFAULT_ORG,
    project_id: str | None = None,
    goal: str | None = None,
    provider_keys: Mapping[str, str | None] | None = None,
    traceparent: str | None = None,
) -> RunRecord:
    """Insert a run, its tasks (roots ``ready``, the rest ``pending``) and its dependency edges.

    ``provider_keys`` names, per task id, the provider key its runtime spends through (``key:`` limits).
    """
    keys = provider_keys or {}
    now = utcnow()
    row = _run_row(
        run_id=run_id, name=plan.name, status=RunStatus.RUNNING, repo_path=repo_path, base_ref=base_ref,
        integration_branch=integration_branch, merge_strategy=merge_strategy, plan_path=plan.source.path,
        budget_usd=budget_usd, org_id=org_id, project_id=project_id, goal=goal, traceparent=traceparent, now=now,
    )  # fmt: skip
    await conn.execute(runs.insert(), [row])
    await create_plan_tasks(conn, run_id, plan, provider_keys=keys, now=now)
    return RunRecord.from_row(row)


async def create_planning_run(
    conn: AsyncConnection,
    *,
    run_id: str,
    name: str,
    goal: str,
    repo_path: str,
    base_ref: str,
    integration_branch: str,
    budget_usd: float | None,
    merge_strategy: str,
    org_id: str,
    project_id: str | None,
    traceparent: str | None = None,
) -> RunRecord:
    """Insert the run of a goal whose plan is still to come (``planning``, no task yet)."""
    row = _run_row(
        run_id=run_id, name=name, status=RunStatus.PLANNING, repo_path=repo_path, base_ref=base_ref,
        integration_branch=integration_branch, merge_strategy=merge_strategy, plan_path="<goal>",
        budget_usd=budget_usd, org_id=org_id, project_id=project_id, goal=goal, traceparent=traceparent, now=utcnow(),
    )  # fmt: skip
    await conn.execute(runs.insert(), [row])
    return RunRecord.from_row(row)


async def delete_plan_tasks(conn: AsyncConnection, run_id: str) -> None:
    """Remove the tasks of a run that has not started any (its plan is replaced before it runs)."""
    pks = sa.select(tasks.c.pk).where(tasks.c.run_id == run_id).scalar_subquery()
    await conn.execute(dependencies.delete().where(dependencies.c.task_pk.in_(pks)))
    await conn.execute(task_conflicts.delete().where(task_conflicts.c.task_pk.in_(pks)))
    await conn.execute(tasks.delete().where(tasks.c.run_id == run_id))


async def create_plan_tasks(
    conn: AsyncConnection,
    run_id: str,
    plan: plans.Plan,
    *,
    provider_keys: Mapping[str, str | None] | None = None,
    now: datetime | None = None,
) -> None:
    """Insert a plan's tasks into a run without any (roots ``ready``, the rest ``pending``) and their edges."""
    keys = provider_keys or {}
    now = now or utcnow()
    lengths = plans.path_lengths(plan)
    estimates = plans.path_estimates_ms(plan)
    task_rows = [
        {
            "run_id": run_id,
            "id": t.id,
            "seq": seq,
            "title": t.title,
            "prompt": t.prompt,
            "runtime": t.runtime,
            "options": dict(t.options),
            "verify": list(t.verify),
            "acceptance_criteria": [{"id": c.id, "text": c.text} for c in t.acceptance_criteria],
            "source_path": t.source.path,
            "source_line": t.source.line,
            "priority": t.priority,
            "path_length": lengths[t.id],
            "max_attempts": t.max_attempts,
            "timeout_s": t.timeout_s,
            "budget_usd": t.budget_usd,
            "max_revisions": t.max_revisions,
            "not_before": t.not_before,
            "role": t.role,
            "allow_empty": t.allow_empty,
            "files": list(t.files),
            "provider_key": keys.get(t.id),
            "status": TaskStatus.PENDING if t.depends_on else TaskStatus.READY,
            "pending_deps": len(t.depends_on),
            "attempts": 0,
            "estimate_s": t.estimate_s,
            "path_estimate_ms": estimates[t.id],
        }
        for seq, t in enumerate(plan.tasks)
    ]
    await _INSERT_TASKS.run(conn, task_rows, {"created_at": now})
    result = await conn.execute(sa.select(tasks.c.id, tasks.c.pk).where(tasks.c.run_id == run_id))
    pks = {task_id: pk for task_id, pk in result}
    edges = [{"task_pk": pks[t.id], "depends_on_pk": pks[d]} for t in plan.tasks for d in t.depends_on]
    if edges:
        await conn.execute(dependencies.insert(), edges)
    needs = [{"task_pk": pks[t.id], "requirement": r} for t in plan.tasks for r in t.requires]
    if needs:
        await conn.execute(task_requirements.insert(), needs)
    apart = [(pks[a], pks[b]) for a, b in conflicts.conflicting_pairs(plan)]
    if apart:
        rows = [{"task_pk": x, "other_pk": y} for a, b in apart for x, y in ((a, b), (b, a))]
        await conn.execute(task_conflicts.insert(), rows)


async def read_run(conn: AsyncConnection, run_id: str) -> RunRecord:
    """The run, or NotFound."""
    row = (await conn.execute(sa.select(runs).where(runs.c.id == run_id))).first()
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return RunRecord.from_row(row._mapping)


async def lock_run(conn: AsyncConnection, run_id: str) -> None:
    """Serialise outcome writes of one run (PostgreSQL row lock; SQLite writers are serial already).

    Without it, two tasks finishing at once in READ COMMITTED each see the other still running,
    and neither ends the run.
    """
    await conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id).with_for_update())


async def read_runs(conn: AsyncConnection, *, limit: int = 50) -> list[RunRecord]:
    """The newest runs first."""
    rows = await conn.execute(sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit))
    return [RunRecord.from_row(r._mapping) for r in rows]


#: the sources of a status change allowed from a run that works on its tasks: running, or waiting only for
#: merge approvals (``store/merge_waits.py``)
TAKING_WORK: tuple[RunStatus | tuple[RunStatus, WaitingFor], ...] = (
    RunStatus.RUNNING,
    (RunStatus.WAITING, WaitingFor.MERGE),
)


async def update_run_status(
    conn: AsyncConnection,
    run_id: str,
    status: RunStatus,
    *,
    allowed_from: Sequence[RunStatus | tuple[RunStatus, WaitingFor]],
    waiting_for: WaitingFor | None = None,
    error: str | None = None,
    **more: object,
) -> bool:
    """Move a run to ``status`` if it is in one of ``allowed_from``; True if it moved.

    A ``waiting`` run names what it waits for; any other status clears it. A source given as a pair
    (``(RunStatus.WAITING, WaitingFor.MERGE)``) allows only a run waiting for that. ``more``: other columns to set."""
    now = utcnow()
    sources = [
        sa.and_(runs.c.status == s[0], runs.c.waiting_for == s[1].value) if isinstance(s, tuple) else runs.c.status == s
        for s in allowed_from
    ]
    values: dict[str, object] = {"status": status, "updated_at": now, "waiting_for": waiting_for, **more}
    if status.terminal:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    result = await conn.execute(runs.update().where(runs.c.id == run_id, sa.or_(sa.false(), *sources)).values(**values))
    return result.rowcount == 1


async def finish_run_if_done(conn: AsyncConnection, run_id: str, now: datetime | None = None) -> RunStatus | None:
    """End the run if none of its tasks can still run; return the final status, or None if still going.

    On PostgreSQL two tasks finishing in concurrent transactions each see the other still running,
    so the engine calls this again after its commit when only running tasks were left.
    """
    if await first_unfinished(conn, run_id) is not None:
        return None
    unsuccessful = await conn.execute(
        sa.select(tasks.c.status, tasks.c.checkpoint, tasks.c.id)
        .where(tasks.c.run_id == run_id, tasks.c.status != TaskStatus.SUCCEEDED)
        .order_by(tasks.c.seq)
    )
    # A task handed on — a conflict to its resolver, a failure to the tasks a re-plan put in its place —
    # is settled by those tasks, which are judged themselves.
    failed = [(s, task_id) for s, cp, task_id in unsuccessful if not Checkpoint.from_json(cp).resolved_by]
    final = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    now = now or utcnow()
    ending = [RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.WAITING]
    first_failure = next((task_id for s, task_id in failed if s == TaskStatus.FAILED), None)
    if first_failure is not None:
        current = (await conn.execute(sa.select(runs.c.status, runs.c.waiting_for).where(runs.c.id == run_id))).one()
        if current.status == RunStatus.WAITING and current.waiting_for == WaitingFor.REPLAN:
            return None  # its re-plan is on its way already
    # A crew's run whose task failed for good waits for its manager's re-plan (and a person's approval).
    if first_failure is not None and await supervision.request_step(
        conn, run_id, "replan", now=now, task_id=first_failure
    ):
        moved = await conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.status.in_(ending))
            .values(status=RunStatus.WAITING, waiting_for=WaitingFor.REPLAN, updated_at=now)
        )
        return RunStatus.WAITING if moved.rowcount == 1 else None
    moved = await conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status.in_(ending))
        .values(status=final, updated_at=now, finished_at=now, waiting_for=None)
    )
    return final if moved.rowcount == 1 else None


#: one index probe per status a run can still have work in, in the order ``first_unfinished`` asks, built and
#: compiled once
_PROBES = tuple(
    (
        status,
        compiled.Compiled(
            sa.select(sa.literal(1))
            .where(tasks.c.run_id == sa.bindparam("probe_run", type_=tasks.c.run_id.type), tasks.c.status == status)
            .limit(1)
        ),
    )
    for status in (TaskStatus.READY, TaskStatus.PENDING, TaskStatus.RUNNING)
)


async def first_unfinished(conn: AsyncConnection, run_id: str) -> TaskStatus | None:
    """A status (ready, pending, then running) the run still has a task in, or None; index probes only."""
    for status, probe in _PROBES:
        if await compiled.fetch(conn, probe, {"probe_run": run_id}):
            return status
    return None
