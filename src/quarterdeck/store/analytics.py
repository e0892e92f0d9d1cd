"""The facts crew analytics adds up: an organisation's tasks that ended in a window, with their costs,
tokens, phase events and review verdicts (``domain/analytics.py`` does the arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import analytics
from quarterdeck.store.tables import cost_entries, events, runs, tasks, verdicts

__all__ = ["CrewTotals", "read_crew_totals", "read_task_facts"]

#: the task statuses analytics counts (a blocked task never ran)
_ENDED = ("succeeded", "failed", "conflict", "cancelled")
#: the event types that mark phases (``analytics.phases_of``); an agent's many output events are not needed
_PHASE_EVENTS = (
    "task.ready",
    "task.claimed",
    "task.succeeded",
    "task.failed",
    "task.cancelled",
    "task.released",
    "lease.expired",
    "workspace.ready",
    "agent.result",
    "revision.requested",
    "commit.created",
    "verify.result",
    "setup.result",
    "review.verdict",
    "approval.requested",
    "approval.decided",
    "merge.started",
    "merge.done",
    "merge.conflict",
    "push.done",
    "push.failed",
)


async def read_task_facts(
    conn: AsyncConnection,
    *,
    org_id: str,
    since: datetime,
    until: datetime,
    project_id: str | None = None,
) -> list[analytics.TaskFact]:
    """The organisation's tasks that ended in ``[since, until)`` (and were tried), with what they cost and did."""
    t, r = tasks.c, runs.c
    query = (
        sa.select(
            t.run_id,
            t.id,
            t.role,
            t.runtime,
            t.source_path,
            t.status,
            t.attempts,
            t.failures,
            t.revisions,
            t.finished_at,
            r.project_id,
        )
        .join(runs, r.id == t.run_id)
        .where(
            r.org_id == org_id,
            t.status.in_(_ENDED),
            t.attempts > 0,
            t.finished_at >= since,
            t.finished_at < until,
        )
    )
    if project_id is not None:
        query = query.where(r.project_id == project_id)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    run_ids = sorted({row.run_id for row in rows})
    spend = await _spend(conn, run_ids)
    phases = await _phases(conn, run_ids)
    judged = await _verdicts(conn, run_ids)
    facts = []
    for row in rows:
        key = (row.run_id, row.id)
        cost, tokens_in, tokens_out, model = spend.get(key, (0.0, 0, 0, analytics.NONE))
        given, criteria = judged.get(key, ({}, {}))
        facts.append(
            analytics.TaskFact(
                run_id=row.run_id,
                task_id=row.id,
                project_id=row.project_id,
                role=row.role,
                runtime=row.runtime,
                story=row.source_path,
                status=row.status,
                attempts=row.attempts,
                failures=row.failures,
                revisions=row.revisions,
                finished_at=row.finished_at,
                cost_usd=cost,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                model=model,
                phases=analytics.phases_of(phases.get(key, [])),
                verdicts=given,
                criteria=criteria,
            )
        )
    return facts


async def _spend(conn: AsyncConnection, run_ids: list[str]) -> dict[tuple[str, str], tuple[float, int, int, str]]:
    """Per task: cost, tokens in and out, and the model it spent most on."""
    c = cost_entries.c
    query = (
        sa.select(
            c.run_id,
            c.task_id,
            c.model,
            sa.func.sum(c.cost_usd),
            sa.func.sum(c.input_tokens),
            sa.func.sum(c.output_tokens),
        )
        .where(c.run_id.in_(run_ids), c.task_id.is_not(None))
        .group_by(c.run_id, c.task_id, c.model)
    )
    totals: dict[tuple[str, str], tuple[float, int, int, str]] = {}
    best: dict[tuple[str, str], tuple[float, int]] = {}
    for run_id, task_id, model, cost, tokens_in, tokens_out in await conn.execute(query):
        key = (run_id, task_id)
        spent, used_in, used_out, top = totals.get(key, (0.0, 0, 0, analytics.NONE))
        weight = (float(cost or 0), int(tokens_in or 0) + int(tokens_out or 0))
        if key not in best or weight > best[key]:
            best[key], top = weight, model
        totals[key] = (spent + float(cost or 0), used_in + int(tokens_in or 0), used_out + int(tokens_out or 0), top)
    return totals


async def _phases(conn: AsyncConnection, run_ids: list[str]) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
    e = events.c
    query = (
        sa.select(e.run_id, e.task_id, e.type, e.created_at)
        .where(e.run_id.in_(run_ids), e.task_id.is_not(None), e.type.in_(_PHASE_EVENTS))
        .order_by(e.id)
    )
    found: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for run_id, task_id, event_type, at in await conn.execute(query):
        found.setdefault((run_id, task_id), []).append((event_type, at))
    return found


async def _verdicts(
    conn: AsyncConnection, run_ids: list[str]
) -> dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]]:
    v = verdicts.c
    query = sa.select(v.run_id, v.task_id, v.verdict, v.criteria).where(v.run_id.in_(run_ids))
    found: dict[tuple[str, str], tuple[dict[str, int], dict[str, int]]] = {}
    for run_id, task_id, verdict, criteria in await conn.execute(query):
        given, judged = found.setdefault((run_id, task_id), ({}, {}))
        given[verdict] = given.get(verdict, 0) + 1
        for criterion in _entries(criteria):
            status = str(criterion.get("status", "unknown"))
            judged[status] = judged.get(status, 0) + 1
    return found


def _entries(criteria: Any) -> list[dict[str, Any]]:
    return [c for c in criteria if isinstance(c, dict)] if isinstance(criteria, list) else []


#: the most models the metrics name; the rest are added up as ``other`` (a label's values stay few)
MAX_MODELS = 20


@dataclass(frozen=True, slots=True)
class CrewTotals:
    """Every organisation's ended tasks, for the operator's metrics (labels: role, runtime, model)."""

    #: (role, runtime, outcome: succeeded | dead) → tasks
    ended: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (role, runtime) → tasks that succeeded with no failed attempt
    first_attempt: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (role, runtime) → revisions asked for
    revisions: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (role, runtime, model) → (cost, input tokens, output tokens)
    spend: dict[tuple[str, str, str], tuple[float, int, int]] = field(default_factory=dict)


async def read_crew_totals(conn: AsyncConnection) -> CrewTotals:
    """The totals, in two grouped queries (a task's role is ``—`` when it has none)."""
    t = tasks.c
    succeeded = sa.case((t.status == "succeeded", 1), else_=0)
    first = sa.case((sa.and_(t.status == "succeeded", t.failures == 0), 1), else_=0)
    query = (
        sa.select(
            t.role, t.runtime, sa.func.count(), sa.func.sum(succeeded), sa.func.sum(first), sa.func.sum(t.revisions)
        )
        .where(t.status.in_(_ENDED), t.attempts > 0)
        .group_by(t.role, t.runtime)
    )
    totals = CrewTotals()
    for role, runtime, count, ok, first_ok, revisions in await conn.execute(query):
        labels = (role or analytics.NONE, runtime)
        totals.ended[(*labels, "succeeded")] = int(ok or 0)
        totals.ended[(*labels, "dead")] = int(count) - int(ok or 0)
        totals.first_attempt[labels] = int(first_ok or 0)
        totals.revisions[labels] = int(revisions or 0)
    c = cost_entries.c
    spend = (
        sa.select(
            t.role,
            t.runtime,
            c.model,
            sa.func.sum(c.cost_usd),
            sa.func.sum(c.input_tokens),
            sa.func.sum(c.output_tokens),
        )
        .join(tasks, sa.and_(t.run_id == c.run_id, t.id == c.task_id))
        .group_by(t.role, t.runtime, c.model)
    )
    rows = sorted(await conn.execute(spend), key=lambda r: -float(r[3] or 0))
    kept = {r[2] for r in rows[:MAX_MODELS]}
    for role, runtime, model, cost, tokens_in, tokens_out in rows:
        key = (role or analytics.NONE, runtime, model if model in kept else "other")
        before = totals.spend.get(key, (0.0, 0, 0))
        totals.spend[key] = (
            before[0] + float(cost or 0),
            before[1] + int(tokens_in or 0),
            before[2] + int(tokens_out or 0),
        )
    return totals
