"""Tasks: list with filters, detail (attempts, verdicts, cost), diff, events, cancel, retry, prioritise."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Query
from starlette.responses import Response

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Member, Principal, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.routes.runs import read_run_or_404, split_statuses
from quarterdeck.api.services import Services, Svc
from quarterdeck.app import TaskRecord, tasks
from quarterdeck.domain.statuses import TaskStatus

__all__ = ["router"]

router = v1_router("tasks")


async def _task_or_404(svc: Services, principal: Principal, run_id: str, task_id: str) -> TaskRecord:
    return await tasks.read_task(svc.db, run_id, task_id, org_id=principal.org_id)


@router.get("/runs/{run_id}/tasks")
async def list_tasks(
    run_id: str,
    principal: Viewer,
    svc: Svc,
    status: Annotated[str | None, Query(description="Comma-separated statuses.", max_length=200)] = None,
    limit: Limit = 200,
    cursor: Cursor = None,
) -> schemas.Page[schemas.TaskRow]:
    """The run's tasks in plan order."""
    after = decode_cursor(cursor, int)[0] if cursor else -1
    statuses = split_statuses(status, TaskStatus)
    page = await tasks.read_task_page(
        svc.db, run_id, org_id=principal.org_id, statuses=statuses, after_seq=after, limit=limit
    )
    shown, deps = page.tasks, page.dependencies
    return schemas.Page[schemas.TaskRow](
        items=[convert.task_row(t, deps.get(t.id, []), t.cost_usd) for t in shown],
        next_cursor=encode_cursor(shown[-1].seq) if page.more else None,
    )


@router.get("/runs/{run_id}/tasks/{task_id}")
async def read_task(run_id: str, task_id: str, principal: Viewer, svc: Svc) -> schemas.TaskDetail:
    """A task with its prompt, criteria, attempts, review verdicts and cost."""
    detail = await tasks.read_task_detail(svc.db, run_id, task_id, org_id=principal.org_id)
    task, attempts, verdicts, deps = detail.task, detail.attempts, detail.verdicts, detail.dependencies
    cost = sum(a.cost_usd for a in attempts)
    row = convert.task_row(task, deps, cost)
    return schemas.TaskDetail(
        **row.model_dump(),
        prompt=task.prompt,
        acceptance_criteria=task.acceptance_criteria,
        verify=task.verify,
        max_attempts=task.max_attempts,
        attempts_detail=[convert.attempt(a) for a in attempts],
        verdicts=[
            schemas.VerdictPublic(
                attempt_id=v.attempt_id,
                revision=v.revision,
                verdict=v.verdict,
                criteria=v.criteria,
                summary=v.summary,
                reviewer=v.reviewer,
                created_at=v.created_at,
            )
            for v in verdicts
        ],
        branch=next((a.branch for a in reversed(attempts) if a.branch), None),
    )


@router.get("/runs/{run_id}/tasks/{task_id}/diff")
async def task_diff(run_id: str, task_id: str, principal: Viewer, svc: Svc) -> schemas.DiffPublic:
    """The task's change: its landed commit, else its newest attempt's commit."""
    shown = await tasks.read_task_change(svc.db, svc.keys, run_id, task_id, org_id=principal.org_id)
    return schemas.DiffPublic(commit=shown.commit, stat=shown.stat, diff=shown.diff, truncated=shown.truncated)


@router.get("/runs/{run_id}/tasks/{task_id}/events", response_model=schemas.Page[schemas.EventPublic])
async def task_events(
    run_id: str,
    task_id: str,
    principal: Viewer,
    svc: Svc,
    limit: Limit = 200,
    cursor: Cursor = None,
) -> Response:
    """The task's events (its log), oldest first; for live ones, use the event stream."""
    after = decode_cursor(cursor, int)[0] if cursor else 0
    events = await tasks.read_task_events(
        svc.db, run_id, task_id, org_id=principal.org_id, after_id=after, limit=limit + 1
    )
    more = len(events) > limit
    events = events[:limit]
    # Each event's JSON as the live streams send it, made once per process (``frames.EventEncoder``): a task's log
    # is read again and again while it runs (every open task page), and converting each event costs more than
    # reading it.
    next_cursor = json.dumps(encode_cursor(events[-1].id) if more else None)
    items = ",".join([svc.frames.json(event) for event in events])
    return Response(f'{{"items":[{items}],"next_cursor":{next_cursor}}}', media_type="application/json")


@router.post("/runs/{run_id}/tasks/{task_id}/cancel")
async def cancel_task(run_id: str, task_id: str, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Cancel the task (its agent is stopped); returns the dependants it blocked."""
    await _task_or_404(svc, principal, run_id, task_id)
    blocked = await svc.quarterdeck.cancel_task(run_id, task_id, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=blocked, budget_usd=run.budget_usd)


@router.post("/runs/{run_id}/tasks/{task_id}/retry")
async def retry_task(run_id: str, task_id: str, principal: Member, svc: Svc) -> schemas.SteerResult:
    """Re-queue a failed, conflicted or cancelled task; returns the dependants that wait again."""
    await _task_or_404(svc, principal, run_id, task_id)
    waiting = await svc.quarterdeck.requeue_task(run_id, task_id, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=waiting, budget_usd=run.budget_usd)


@router.post("/runs/{run_id}/tasks/{task_id}/prioritize")
async def prioritize_task(
    run_id: str, task_id: str, body: schemas.Prioritize, principal: Member, svc: Svc
) -> schemas.SteerResult:
    """Set the task's priority (higher is claimed first), effective at the next claim."""
    await _task_or_404(svc, principal, run_id, task_id)
    await svc.quarterdeck.prioritize_task(run_id, task_id, body.priority, by=principal.actor)
    run = await read_run_or_404(svc, principal, run_id)
    return schemas.SteerResult(run_id=run_id, status=run.status, tasks=[task_id], budget_usd=run.budget_usd)
