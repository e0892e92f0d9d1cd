"""Crew repository: messages, review verdicts, approvals, plan versions and the team of a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids, plans
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.statuses import RunStatus, TaskStatus, WaitingFor
from quarterdeck.errors import NotFound
from quarterdeck.security.redaction import redact
from quarterdeck.store.records import _FromRow
from quarterdeck.store.tables import (
    approvals,
    cost_entries,
    dependencies,
    messages,
    plan_versions,
    runs,
    tasks,
    team_members,
    verdicts,
)
from quarterdeck.store.tasks import allowed_from
from quarterdeck.store.types import utcnow

__all__ = [
    "ApprovalRecord",
    "MessageRecord",
    "NewMember",
    "PlanVersionRecord",
    "TeamMemberRecord",
    "VerdictRecord",
    "add_workload",
    "create_approval",
    "create_cost",
    "create_message",
    "create_plan_version",
    "create_tasks",
    "create_team",
    "create_verdict",
    "decide_approval",
    "read_approval",
    "read_approvals",
    "read_messages",
    "read_plan_versions",
    "read_team",
    "read_verdict",
    "read_verdicts",
    "reconcile_waiting",
    "reopen_run",
    "repoint_dependants",
    "retire_task",
    "update_plan_version",
]


@dataclass(frozen=True, slots=True)
class MessageRecord(_FromRow):
    """One exchange between crew members (manager, a worker role, the reviewer, a user)."""

    id: int
    run_id: str
    task_id: str | None
    sender: str
    recipient: str
    type: str
    content: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VerdictRecord(_FromRow):
    """A reviewer's judgement of one attempt at one revision, with one entry per acceptance criterion."""

    id: int
    run_id: str
    task_id: str
    attempt_id: str
    revision: int
    #: accept | revise | reject
    verdict: str
    #: ``{"criterion": id, "text": …, "status": met | not_met | cannot_tell, "evidence": …, "by": command | reviewer}``
    criteria: list[dict[str, Any]]
    summary: str
    reviewer: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApprovalRecord(_FromRow):
    """A human gate: a plan, a re-plan, a merge or a budget raise waiting for (or given) a decision."""

    id: str
    org_id: str
    run_id: str | None
    task_id: str | None
    #: plan | replan | merge | budget
    kind: str
    #: pending | approved | rejected
    status: str
    payload: dict[str, Any]
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class PlanVersionRecord(_FromRow):
    """One version of a run's plan, as the plan file object (``stories/planfile.py``) holds it."""

    id: int
    run_id: str
    version: int
    plan: dict[str, Any]
    author: str
    reason: str
    #: proposed | approved | rejected | applied
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TeamMemberRecord(_FromRow):
    """A member of a run's crew and how many of its tasks run now."""

    id: int
    run_id: str
    name: str
    #: manager | worker | reviewer
    kind: str
    role: str
    runtime: str
    model: str | None
    concurrency: int
    workload: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewMember:
    """A team member to create."""

    name: str
    kind: str
    role: str
    runtime: str
    model: str | None = None
    concurrency: int = 1


# --- messages ---------------------------------------------------------------------------------------------


async def create_message(
    conn: AsyncConnection,
    run_id: str,
    *,
    sender: str,
    recipient: str,
    type: str,
    content: str,
    task_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one message to the run's log."""
    await conn.execute(
        messages.insert().values(
            run_id=run_id,
            task_id=task_id,
            sender=sender,
            recipient=recipient,
            type=type,
            content=redact(content),
            data=redact(data or {}),
            created_at=utcnow(),
        )
    )


async def read_messages(conn: AsyncConnection, run_id: str, *, task_id: str | None = None) -> list[MessageRecord]:
    """A run's messages (of one task, when given), oldest first."""
    query = sa.select(messages).where(messages.c.run_id == run_id).order_by(messages.c.id)
    if task_id is not None:
        query = query.where(messages.c.task_id == task_id)
    return [MessageRecord.from_row(r._mapping) for r in await conn.execute(query)]


# --- verdicts ---------------------------------------------------------------------------------------------


async def create_verdict(
    conn: AsyncConnection,
    *,
    run_id: str,
    task_id: str,
    attempt_id: str,
    revision: int,
    verdict: str,
    criteria: list[dict[str, Any]],
    summary: str,
    reviewer: str,
) -> VerdictRecord:
    """Store a verdict; (attempt, revision) is unique, so a review is recorded at most once."""
    row = {
        "run_id": run_id,
        "task_id": task_id,
        "attempt_id": attempt_id,
        "revision": revision,
        "verdict": verdict,
        "criteria": redact(criteria),
        "summary": redact(summary),
        "reviewer": reviewer,
        "created_at": utcnow(),
    }
    result = await conn.execute(verdicts.insert().values(**row).returning(verdicts.c.id))
    return VerdictRecord.from_row({"id": result.scalar_one(), **row})


async def read_verdict(conn: AsyncConnection, attempt_id: str, revision: int) -> VerdictRecord | None:
    """The verdict already given for this attempt at this revision, if any."""
    row = (
        await conn.execute(
            sa.select(verdicts).where(verdicts.c.attempt_id == attempt_id, verdicts.c.revision == revision)
        )
    ).first()
    return VerdictRecord.from_row(row._mapping) if row is not None else None


async def read_verdicts(conn: AsyncConnection, run_id: str, task_id: str | None = None) -> list[VerdictRecord]:
    """A run's verdicts (of one task, when given), oldest first."""
    query = sa.select(verdicts).where(verdicts.c.run_id == run_id).order_by(verdicts.c.id)
    if task_id is not None:
        query = query.where(verdicts.c.task_id == task_id)
    return [VerdictRecord.from_row(r._mapping) for r in await conn.execute(query)]


# --- approvals --------------------------------------------------------------------------------------------


async def create_approval(
    conn: AsyncConnection,
    *,
    org_id: str,
    kind: str,
    payload: dict[str, Any],
    requested_by: str,
    run_id: str | None = None,
    task_id: str | None = None,
) -> ApprovalRecord:
    """Open a pending approval."""
    row: dict[str, Any] = {
        "id": ids.new_id("ap"),
        "org_id": org_id,
        "run_id": run_id,
        "task_id": task_id,
        "kind": kind,
        "status": "pending",
        "payload": redact(payload),
        "requested_by": requested_by,
        "requested_at": utcnow(),
        "decided_by": None,
        "decided_at": None,
        "reason": None,
    }
    await conn.execute(approvals.insert().values(**row))
    return ApprovalRecord.from_row(row)


async def read_approval(conn: AsyncConnection, approval_id: str, *, org_id: str | None = None) -> ApprovalRecord:
    """One approval (of ``org_id``, when given), or NotFound."""
    query = sa.select(approvals).where(approvals.c.id == approval_id)
    if org_id is not None:
        query = query.where(approvals.c.org_id == org_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"no approval {approval_id!r}")
    return ApprovalRecord.from_row(row._mapping)


async def read_approvals(
    conn: AsyncConnection,
    *,
    org_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> list[ApprovalRecord]:
    """Approvals matching every filter given, oldest first."""
    query = sa.select(approvals).order_by(approvals.c.requested_at, approvals.c.id)
    for column, value in (
        (approvals.c.org_id, org_id),
        (approvals.c.run_id, run_id),
        (approvals.c.task_id, task_id),
        (approvals.c.kind, kind),
        (approvals.c.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    return [ApprovalRecord.from_row(r._mapping) for r in await conn.execute(query)]


async def decide_approval(
    conn: AsyncConnection, approval_id: str, *, approve: bool, by: str, reason: str | None, now: datetime
) -> ApprovalRecord | None:
    """Record the decision if the approval is still pending; None if someone decided first."""
    result = await conn.execute(
        approvals.update()
        .where(approvals.c.id == approval_id, approvals.c.status == "pending")
        .values(status="approved" if approve else "rejected", decided_by=by, decided_at=now, reason=reason)
        .returning(*approvals.c)
    )
    row = result.first()
    return ApprovalRecord.from_row(row._mapping) if row is not None else None


# --- plan versions ----------------------------------------------------------------------------------------


async def create_plan_version(
    conn: AsyncConnection, run_id: str, *, plan: dict[str, Any], author: str, reason: str, status: str
) -> PlanVersionRecord:
    """Keep a new version of the run's plan (versions count from 1)."""
    latest = (
        await conn.execute(sa.select(sa.func.max(plan_versions.c.version)).where(plan_versions.c.run_id == run_id))
    ).scalar()
    row: dict[str, Any] = {
        "run_id": run_id,
        "version": (latest or 0) + 1,
        "plan": plan,
        "author": author,
        "reason": reason,
        "status": status,
        "created_at": utcnow(),
    }
    result = await conn.execute(plan_versions.insert().values(**row).returning(plan_versions.c.id))
    return PlanVersionRecord.from_row({"id": result.scalar_one(), **row})


async def update_approval_payload(conn: AsyncConnection, approval_id: str, payload: dict[str, Any]) -> bool:
    """Change what a still pending approval asks (a plan edited before its approval); False if it was decided."""
    result = await conn.execute(
        approvals.update().where(approvals.c.id == approval_id, approvals.c.status == "pending").values(payload=payload)
    )
    return result.rowcount == 1


async def update_plan_version(conn: AsyncConnection, run_id: str, version: int, *, status: str) -> None:
    await conn.execute(
        plan_versions.update()
        .where(plan_versions.c.run_id == run_id, plan_versions.c.version == version)
        .values(status=status)
    )


async def read_plan_versions(conn: AsyncConnection, run_id: str) -> list[PlanVersionRecord]:
    """Every version of the run's plan, first first."""
    rows = await conn.execute(
        sa.select(plan_versions).where(plan_versions.c.run_id == run_id).order_by(plan_versions.c.version)
    )
    return [PlanVersionRecord.from_row(r._mapping) for r in rows]


# --- team -------------------------------------------------------------------------------------------------


async def create_team(conn: AsyncConnection, run_id: str, members: Sequence[NewMember]) -> None:
    """Store the crew of a run."""
    now = utcnow()
    if members:
        await conn.execute(
            team_members.insert(),
            [
                {
                    "run_id": run_id,
                    "name": m.name,
                    "kind": m.kind,
                    "role": m.role,
                    "runtime": m.runtime,
                    "model": m.model,
                    "concurrency": m.concurrency,
                    "workload": 0,
                    "created_at": now,
                }
                for m in members
            ],
        )


async def read_team(conn: AsyncConnection, run_id: str) -> list[TeamMemberRecord]:
    """The crew of a run (empty when the run has none), in creation order."""
    rows = await conn.execute(
        sa.select(team_members).where(team_members.c.run_id == run_id).order_by(team_members.c.id)
    )
    return [TeamMemberRecord.from_row(r._mapping) for r in rows]


async def add_workload(conn: AsyncConnection, run_id: str, *, kind: str, role: str, delta: int) -> None:
    """Count a task of ``role`` starting (+1) or finishing (-1) against its team member; never below 0."""
    member = sa.and_(team_members.c.run_id == run_id, team_members.c.kind == kind, team_members.c.role == role)
    await conn.execute(
        team_members.update()
        .where(member)
        .values(workload=sa.case((team_members.c.workload + delta < 0, 0), else_=team_members.c.workload + delta))
    )


# --- re-planning: changing the remaining tasks of a run -------------------------------------------------

_DEAD = (TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.CONFLICT, TaskStatus.BLOCKED)


async def create_tasks(
    conn: AsyncConnection,
    run_id: str,
    specs: Sequence[plans.TaskSpec],
    *,
    priority: int,
    path_length: int,
    path_estimate_ms: int,
    provider_keys: Mapping[str, str | None] | None = None,
) -> dict[str, int]:
    """Add tasks to a running run (``pending`` until ``reconcile_waiting`` looks at their dependencies).

    Dependencies may name tasks already in the run or among ``specs``. Returns id → pk of the new tasks.
    ``priority``, ``path_length`` and ``path_estimate_ms`` rank them (a replacement takes its target's place).
    ``provider_keys`` names, per new task id, the provider key it spends through (``key:`` limits).
    """
    keys = provider_keys or {}
    now = utcnow()
    seq = (await conn.execute(sa.select(sa.func.max(tasks.c.seq)).where(tasks.c.run_id == run_id))).scalar() or 0
    rows = [
        {
            "run_id": run_id,
            "id": t.id,
            "seq": seq + n,
            "title": t.title,
            "prompt": t.prompt,
            "runtime": t.runtime,
            "options": dict(t.options),
            "verify": list(t.verify),
            "acceptance_criteria": [{"id": c.id, "text": c.text} for c in t.acceptance_criteria],
            "source_path": t.source.path,
            "source_line": t.source.line,
            "priority": priority,
            "path_length": path_length,
            "estimate_s": t.estimate_s,
            "path_estimate_ms": path_estimate_ms,
            "max_attempts": t.max_attempts,
            "timeout_s": t.timeout_s,
            "budget_usd": t.budget_usd,
            "max_revisions": t.max_revisions,
            "not_before": t.not_before,
            "role": t.role,
            "provider_key": keys.get(t.id),
            "status": TaskStatus.PENDING,
            "pending_deps": len(t.depends_on),
            "attempts": 0,
            "created_at": now,
        }
        for n, t in enumerate(specs, 1)
    ]
    if rows:
        await conn.execute(tasks.insert(), rows)
    known = await conn.execute(sa.select(tasks.c.id, tasks.c.pk).where(tasks.c.run_id == run_id))
    pks = {task_id: pk for task_id, pk in known}
    edges = [{"task_pk": pks[t.id], "depends_on_pk": pks[d]} for t in specs for d in t.depends_on]
    if edges:
        await conn.execute(dependencies.insert(), edges)
    return {t.id: pks[t.id] for t in specs}


async def repoint_dependants(conn: AsyncConnection, pk: int, new_pks: Sequence[int]) -> None:
    """Whatever depended on task ``pk`` depends on every one of ``new_pks`` instead (none: the edge goes)."""
    dependants = list(
        (await conn.execute(sa.select(dependencies.c.task_pk).where(dependencies.c.depends_on_pk == pk))).scalars()
    )
    await conn.execute(dependencies.delete().where(dependencies.c.depends_on_pk == pk))
    edges = [{"task_pk": d, "depends_on_pk": n} for d in dependants for n in new_pks]
    if edges:
        await conn.execute(dependencies.insert(), edges)


async def retire_task(conn: AsyncConnection, pk: int, *, resolved_by: str, reason: str, now: datetime) -> None:
    """Take a task out of the plan: a waiting one is cancelled; it keeps its history and ``resolved_by``."""
    checkpoint = Checkpoint(resolved_by=resolved_by).to_json()
    await conn.execute(
        tasks.update()
        .where(tasks.c.pk == pk, tasks.c.status.in_([TaskStatus.PENDING, TaskStatus.READY]))
        .values(status=TaskStatus.CANCELLED, error=reason, finished_at=now)
    )
    await conn.execute(tasks.update().where(tasks.c.pk == pk).values(checkpoint=checkpoint))


async def reconcile_waiting(conn: AsyncConnection, run_id: str, *, now: datetime) -> list[tuple[str, TaskStatus]]:
    """Recount the dependencies of every waiting or blocked task; returns the tasks whose status changed.

    A task with a failed, cancelled or blocked dependency (not retired by a re-plan) is blocked; one whose
    dependencies all succeeded is ready; the rest wait.
    """
    rows = await conn.execute(
        sa.select(tasks.c.pk, tasks.c.id, tasks.c.status, tasks.c.checkpoint).where(tasks.c.run_id == run_id)
    )
    status: dict[int, TaskStatus] = {}
    names: dict[int, str] = {}
    retired: set[int] = set()
    for pk, task_id, st, cp in rows:
        status[pk], names[pk] = TaskStatus(st), task_id
        if Checkpoint.from_json(cp).resolved_by:
            retired.add(pk)
    edges = await conn.execute(
        sa.select(dependencies.c.task_pk, dependencies.c.depends_on_pk).where(dependencies.c.task_pk.in_(list(status)))
    )
    deps: dict[int, list[int]] = {}
    for task_pk, dep_pk in edges:
        deps.setdefault(task_pk, []).append(dep_pk)
    changed: list[tuple[str, TaskStatus]] = []
    # Blocking spreads down the DAG: go round until nothing changes (plans are small).
    moved = True
    while moved:
        moved = False
        for pk, current in status.items():
            if current not in (TaskStatus.PENDING, TaskStatus.READY, TaskStatus.BLOCKED) or pk in retired:
                continue
            mine = deps.get(pk, [])
            waiting = sum(1 for d in mine if status[d] is not TaskStatus.SUCCEEDED)
            if any(status[d] in _DEAD for d in mine):
                target = TaskStatus.BLOCKED
            else:
                target = TaskStatus.READY if waiting == 0 else TaskStatus.PENDING
            if target is current:
                await conn.execute(tasks.update().where(tasks.c.pk == pk).values(pending_deps=waiting))
                continue
            blocked = target is TaskStatus.BLOCKED
            await conn.execute(
                tasks.update()
                .where(tasks.c.pk == pk, tasks.c.status.in_(allowed_from(target)))
                .values(
                    status=target,
                    pending_deps=waiting,
                    error="a dependency failed" if blocked else None,
                    finished_at=now if blocked else None,
                )
            )
            status[pk] = target
            changed.append((names[pk], target))
            moved = True
    return changed


async def reopen_run(conn: AsyncConnection, run_id: str, *, now: datetime) -> bool:
    """A failed run, or one waiting for its re-plan, runs again (its plan changed); True if it was reopened."""
    result = await conn.execute(
        runs.update()
        .where(
            runs.c.id == run_id,
            sa.or_(
                runs.c.status == RunStatus.FAILED,
                sa.and_(runs.c.status == RunStatus.WAITING, runs.c.waiting_for == WaitingFor.REPLAN.value),
            ),
        )
        .values(status=RunStatus.RUNNING, finished_at=None, updated_at=now, error=None, waiting_for=None)
    )
    return result.rowcount == 1


async def create_cost(
    conn: AsyncConnection,
    run_id: str,
    *,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    source: str,
    task_id: str | None = None,
    attempt_id: str | None = None,
) -> None:
    """Record what a manager or reviewer call cost, as spent by the run."""
    await conn.execute(
        cost_entries.insert().values(
            run_id=run_id,
            task_id=task_id,
            attempt_id=attempt_id,
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
            source=source,
            created_at=utcnow(),
        )
    )
    if cost_usd:
        await conn.execute(runs.update().where(runs.c.id == run_id).values(spent_usd=runs.c.spent_usd + cost_usd))
