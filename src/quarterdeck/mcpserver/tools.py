"""The tools' operations: each parses its arguments, checks the caller, calls the application layer and
returns plain JSON. The same functions serve stdio and HTTP; the server (``server.py``) only registers them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from quarterdeck.app import ApprovalRecord, runs, tasks, transcript
from quarterdeck.app import plans as plan_loading
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.mcpserver.caller import Caller

__all__ = [
    "approve",
    "cancel_run",
    "cancel_task",
    "list_approvals",
    "list_runs",
    "pause_run",
    "plan",
    "read_run",
    "reject",
    "resume_run",
    "retry_task",
    "say",
    "start_goal",
    "start_run",
    "task_diff",
    "task_log",
    "watch_run",
]

#: the most a transcript or a diff returns (an agent's context is precious): the end is kept
_MAX_CHARS = 60_000


def _tail(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else "…(earlier lines cut)\n" + text[-_MAX_CHARS:]


def _plan_json(plan: plans.Plan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "tasks": [
            {
                "id": t.id,
                "title": t.title,
                "runtime": t.runtime,
                "depends_on": list(t.depends_on),
                "estimate_s": t.estimate_s,
            }
            for t in plan.tasks
        ],
        "levels": plans.levels(plan),
        "critical_path": plans.critical_path(plan),
    }


async def _load(caller: Caller, path: str, repo: str | None, project_id: str | None) -> tuple[plans.Plan, Path | str]:
    where = await caller.repository(repo, project_id)
    caller.check_plan_path(path, where)
    return await plan_loading.from_path(Path(path), deps=None), where


async def plan(
    caller: Caller, path: str, repo: str | None = None, agent: str | None = None, project_id: str | None = None
) -> dict[str, Any]:
    """Check a plan file or a story folder as a run would, and return the DAG it makes."""
    loaded, where = await _load(caller, path, repo, project_id)
    checked = await caller.app.check(loaded, repo=where, agent=agent, org_id=caller.org_id)
    return _plan_json(checked)


async def _run_json(caller: Caller, run_id: str) -> dict[str, Any]:
    await runs.read_run(caller.app.db, run_id, org_id=caller.org_id)  # another organisation's run is not found
    view = await caller.app.view(run_id, failures=True)
    run = view.run
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "repo": run.repo_path,
        "integration_branch": run.integration_branch,
        "spent_usd": run.spent_usd,
        "budget_usd": run.budget_usd,
        "error": run.error,
        "tasks": [
            {
                "id": t.id,
                "title": t.title,
                "status": t.status.value,
                "attempts": t.attempts,
                "error": t.error,
                **({"last_line": view.failures[t.id]} if t.id in view.failures else {}),
            }
            for t in view.tasks
        ],
    }


async def start_run(
    caller: Caller,
    path: str,
    repo: str | None = None,
    agent: str | None = None,
    budget_usd: float | None = None,
    project_id: str | None = None,
) -> dict[str, Any]:
    """Check and start a run of a plan file or story folder; workers (``serve``'s, ``quarterdeck worker``) run it."""
    caller.require_steer()
    loaded, where = await _load(caller, path, repo, project_id)
    checked = await caller.app.check(loaded, repo=where, agent=agent, org_id=caller.org_id)
    record = await caller.app.submit(
        checked, repo=where, budget_usd=budget_usd, org_id=caller.org_id, project_id=project_id
    )
    return await _run_json(caller, record.id)


async def start_goal(
    caller: Caller,
    goal: str,
    repo: str | None = None,
    approve: bool = True,
    budget_usd: float | None = None,
    project_id: str | None = None,
) -> dict[str, Any]:
    """Give the crew ``goal``: its run answers at once, ``planning``; the manager's plan then waits for approval
    (unless ``approve`` is false) — look with ``show_run``, which lists its pending approvals."""
    caller.require_steer()
    where = await caller.repository(repo, project_id)
    run = await caller.app.start_goal(
        goal,
        repo=where,
        org_id=caller.org_id,
        actor=caller.actor,
        approve=approve,
        budget_usd=budget_usd,
        project_id=project_id,
    )
    shown = await _run_json(caller, run.id)
    shown["approval"] = None
    return shown


async def list_runs(caller: Caller, limit: int = 20, status: str | None = None) -> dict[str, Any]:
    """The organisation's newest runs."""
    page = await runs.read_run_page(
        caller.app.db, org_id=caller.org_id, statuses=[status] if status else (), limit=max(1, min(limit, 200))
    )
    found = page.runs
    return {
        "runs": [
            {
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "created_at": r.created_at.isoformat(),
                "spent_usd": r.spent_usd,
                "goal": r.goal,
            }
            for r in found
        ]
    }


async def read_run(caller: Caller, run_id: str) -> dict[str, Any]:
    """A run with its tasks (and each failed task's last meaningful output line)."""
    return await _run_json(caller, run_id)


#: a run that stopped here waits for a person, not for workers
_WAITING = (RunStatus.PAUSED, RunStatus.WAITING)


async def watch_run(
    caller: Caller,
    run_id: str,
    timeout_s: float = 300,
    progress: Callable[[float, float, str], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Wait until the run ends or waits for a person (paused, out of budget), or ``timeout_s`` passes."""
    deadline = time.monotonic() + max(0.0, min(timeout_s, 3600))
    reported = -1
    while True:
        shown = await _run_json(caller, run_id)
        done = sum(
            1 for t in shown["tasks"] if t["status"] in ("succeeded", "failed", "conflict", "blocked", "cancelled")
        )
        if progress is not None and done != reported:
            reported = done
            await progress(done, len(shown["tasks"]), f"run {run_id}: {shown['status']}, {done} tasks ended")
        status = RunStatus(shown["status"])
        if status.terminal or status in _WAITING:
            pending = await caller.app.pending_approvals(run_id, org_id=caller.org_id)
            shown["pending_approvals"] = [_approval_json(a) for a in pending]
            shown["watch"] = "ended" if status.terminal else "waiting for a person"
            return shown
        if time.monotonic() >= deadline:
            shown["watch"] = "timed out (still running: watch again)"
            return shown
        await asyncio.sleep(0.5)


async def task_log(caller: Caller, run_id: str, task_id: str, limit: int = 2000) -> dict[str, Any]:
    """What a task's agent said and ran, and what its checks printed (the end, when it is long)."""
    task = await tasks.read_task(caller.app.db, run_id, task_id, org_id=caller.org_id)
    events = await caller.app.events(
        run_id, task_id=task_id, types=transcript.TRANSCRIPT_EVENTS, limit=max(1, min(limit, 20_000))
    )
    text = "\n".join(line for event in events for line in transcript.lines(event))
    return {"run": run_id, "task": task_id, "status": task.status.value, "log": _tail(text)}


async def task_diff(caller: Caller, run_id: str, task_id: str) -> dict[str, Any]:
    """The task's change as a unified diff: its landed commit, else its newest attempt's."""
    # read from git, not the store: redacted with the organisation's secrets (when the caller's keys open them)
    shown = await tasks.read_task_change(caller.app.db, caller.keys, run_id, task_id, org_id=caller.org_id)
    return {"run": run_id, "task": task_id, "commit": shown.commit, "stat": shown.stat, "diff": _tail(shown.diff)}


def _approval_json(a: ApprovalRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "status": a.status,
        "run_id": a.run_id,
        "task_id": a.task_id,
        "payload": a.payload,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at.isoformat(),
    }


async def list_approvals(caller: Caller, run_id: str | None = None) -> dict[str, Any]:
    """The human gates waiting for a decision (of one run, when given)."""
    pending = await caller.app.pending_approvals(run_id, org_id=caller.org_id)
    return {"approvals": [_approval_json(a) for a in pending]}


async def _decide(caller: Caller, approval_id: str, approve: bool, reason: str | None) -> dict[str, Any]:
    caller.require_steer()
    decided = await caller.app.decide(
        approval_id, approve=approve, by=caller.actor, reason=reason, org_id=caller.org_id
    )
    return {**_approval_json(decided), "decided_by": decided.decided_by, "reason": decided.reason}


async def approve(caller: Caller, approval_id: str, reason: str | None = None) -> dict[str, Any]:
    """Approve a gate: a plan starts running, a re-plan applies, a merge lands, a budget rises."""
    return await _decide(caller, approval_id, True, reason)


async def reject(caller: Caller, approval_id: str, reason: str | None = None) -> dict[str, Any]:
    """Reject a gate: a plan's run is cancelled, a re-plan dropped, a merge failed, a budget left as it is."""
    return await _decide(caller, approval_id, False, reason)


async def _steer_run(caller: Caller, run_id: str) -> None:
    caller.require_steer()
    await runs.read_run(caller.app.db, run_id, org_id=caller.org_id)


async def pause_run(caller: Caller, run_id: str) -> dict[str, Any]:
    """Pause a run: running tasks finish, nothing new starts until it is resumed."""
    await _steer_run(caller, run_id)
    await caller.app.pause_run(run_id, by=caller.actor)
    return await _run_json(caller, run_id)


async def resume_run(caller: Caller, run_id: str) -> dict[str, Any]:
    """Resume a paused run."""
    await _steer_run(caller, run_id)
    await caller.app.unpause_run(run_id, by=caller.actor)
    return await _run_json(caller, run_id)


async def cancel_run(caller: Caller, run_id: str) -> dict[str, Any]:
    """Cancel a run: unfinished tasks are cancelled, running agents stopped."""
    await _steer_run(caller, run_id)
    await caller.app.cancel_run(run_id, by=caller.actor)
    return await _run_json(caller, run_id)


async def cancel_task(caller: Caller, run_id: str, task_id: str) -> dict[str, Any]:
    """Cancel one task (its agent is stopped); its dependants are blocked."""
    await _steer_run(caller, run_id)
    blocked = await caller.app.cancel_task(run_id, task_id, by=caller.actor)
    return {**await _run_json(caller, run_id), "blocked": blocked}


async def retry_task(caller: Caller, run_id: str, task_id: str) -> dict[str, Any]:
    """Give a failed, conflicted or cancelled task fresh attempts."""
    await _steer_run(caller, run_id)
    waiting = await caller.app.requeue_task(run_id, task_id, by=caller.actor)
    return {**await _run_json(caller, run_id), "waiting_again": waiting}


async def say(caller: Caller, run_id: str, task_id: str, message: str) -> dict[str, Any]:
    """Send a task's agent a follow-up: a new turn of its session (after its current turn, as a revision, or
    with its retry); recorded in the audit trail."""
    await _steer_run(caller, run_id)
    await tasks.read_task(caller.app.db, run_id, task_id, org_id=caller.org_id)
    said = await caller.app.say(run_id, task_id, message, by=caller.actor)
    return {"run": run_id, "task": task_id, "delivery": said.delivery, "status": said.status}
