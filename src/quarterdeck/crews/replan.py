"""Re-planning: when a task fails for good, the manager proposes to replace, split or drop it.

The proposal is kept as a new plan version (``proposed``), with the changes in it; it is applied under
the same approval rule as the first plan (``gates``), in one transaction: new tasks join the run, the
dependants of a replaced task wait for its replacements (of a dropped one, for nothing), the retired
task keeps its history and names what took its place, and a run that had failed runs again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.crews.config import CrewConfig
from quarterdeck.crews.manager import SYSTEM as MANAGER_SYSTEM
from quarterdeck.crews.manager import GoalFailed, draft_to_plan_file
from quarterdeck.crews.models import Asker
from quarterdeck.crews.schema import ReplanDraft
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.errors import InputError, PlanError, Problem
from quarterdeck.llm.structured import StructuredOutputError
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import TaskRecord
from quarterdeck.store.types import utcnow
from quarterdeck.stories import planfile

__all__ = ["Drafted", "Proposal", "apply_version", "draft", "propose", "record"]

#: tasks a re-plan may change: not done, not running
_CHANGEABLE = frozenset(
    {TaskStatus.FAILED, TaskStatus.BLOCKED, TaskStatus.PENDING, TaskStatus.READY, TaskStatus.CONFLICT}
)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed plan version and what it changes."""

    version: int
    reason: str
    changes: tuple[dict[str, Any], ...]


def _describe(tasks: list[TaskRecord]) -> str:
    lines = []
    for t in tasks:
        criteria = "; ".join(c["text"] for c in t.acceptance_criteria)
        error = f" — error: {(t.error or '')[:500]}" if t.status is TaskStatus.FAILED else ""
        lines.append(f"- {t.id} [{t.status}] role={t.role} {t.title!r}; criteria: {criteria}{error}")
    return "\n".join(lines)


def _check(draft: ReplanDraft, tasks: list[TaskRecord], crew: CrewConfig) -> list[dict[str, Any]]:
    """The changes as applied (new tasks as plan-file entries), or PlanError naming every problem."""
    by_id = {t.id: t for t in tasks}
    problems: list[str] = []
    changes: list[dict[str, Any]] = []
    new_ids: set[str] = set()
    new_entries: list[dict[str, Any]] = []
    for change in draft.changes:
        target = by_id.get(change.task)
        if target is None:
            problems.append(f"change of unknown task {change.task!r}")
            continue
        if target.status not in _CHANGEABLE:
            problems.append(f"task {change.task!r} is {target.status} and cannot be changed")
        wanted = {"replace": (1, 1), "split": (2, 50), "drop": (0, 0)}[change.action]
        if not wanted[0] <= len(change.tasks) <= wanted[1]:
            problems.append(f"{change.action} of {change.task!r} needs {wanted[0]}..{wanted[1]} tasks")
        try:
            entries = draft_to_plan_file(change.tasks, crew, name="replan")["tasks"]
        except InputError as exc:
            problems.append(exc.message)
            continue
        for entry in entries:
            if entry["id"] in by_id or entry["id"] in new_ids:
                problems.append(f"new task id {entry['id']!r} is already taken")
            new_ids.add(entry["id"])
        new_entries += entries
        changes.append({"action": change.action, "task": change.task, "tasks": entries})
    # The new tasks, with stand-ins for the run's tasks they may depend on, must form a valid plan.
    existing = [{"id": t.id, "title": t.title} for t in tasks]
    try:
        planfile.parse_plan(json.dumps({"name": "replan", "tasks": existing + new_entries}), "<re-plan>.json")
    except PlanError as exc:
        problems += [p.message for p in exc.problems]
    if problems:
        raise PlanError([Problem("<re-plan>", 0, p) for p in problems])
    return changes


async def propose(db: Database, run_id: str, failed_task: str, crew: CrewConfig, asker: Asker) -> Proposal:
    """Ask the manager how to change the remaining plan after ``failed_task`` failed; keep it as a version.

    An invalid proposal is sent back once with its problems named.

    Raises:
        GoalFailed: the manager gave no valid proposal.
    """
    drafted = await draft(db, run_id, failed_task, crew, asker)
    async with db.transaction() as conn:
        return await record(conn, drafted, asker)


@dataclass(frozen=True, slots=True)
class Drafted:
    """The manager's valid re-plan, not yet kept: what ``record`` writes."""

    run_id: str
    name: str
    failed_task: str
    reason: str
    changes: tuple[dict[str, Any], ...]
    tasks: tuple[TaskRecord, ...]
    exchange: tuple[tuple[str, str, str], ...]

    def answer(self) -> dict[str, Any]:
        """What a checkpoint keeps of the manager's re-plan: enough to record it again without asking (the tasks
        are read again: the run waits for the re-plan, they do not move)."""
        return {
            "name": self.name,
            "failed_task": self.failed_task,
            "reason": self.reason,
            "changes": list(self.changes),
            "exchange": [list(entry) for entry in self.exchange],
        }


async def from_answer(db: Database, run_id: str, answer: dict[str, Any]) -> Drafted:
    """The re-plan a checkpointed :meth:`Drafted.answer` holds, with the run's tasks as they are now."""
    async with db.read() as conn:
        tasks = await task_store.read_tasks(conn, run_id)
    return Drafted(
        run_id=run_id,
        name=str(answer["name"]),
        failed_task=str(answer["failed_task"]),
        reason=str(answer["reason"]),
        changes=tuple(answer["changes"]),
        tasks=tuple(tasks),
        exchange=tuple((str(a), str(b), str(c)) for a, b, c in answer["exchange"]),
    )


async def draft(db: Database, run_id: str, failed_task: str, crew: CrewConfig, asker: Asker) -> Drafted:
    """The manager's re-plan after ``failed_task`` failed (sent back once when invalid); nothing is written.

    Raises:
        GoalFailed: the manager gave no valid proposal.
    """
    async with db.read() as conn:
        run = await run_store.read_run(conn, run_id)
        tasks = await task_store.read_tasks(conn, run_id)
    prompt = (
        f"Goal:\n{run.goal or run.name}\n\nTask {failed_task!r} failed for good. "
        f"The run's tasks:\n{_describe(tasks)}\n\n"
        "Propose changes to the remaining plan: replace the failed task by one task, split it into several "
        "smaller ones, or drop it (and tasks that can no longer be done). Succeeded tasks stay as they are; "
        "new tasks may depend on them. Give the reason."
    )
    exchange: list[tuple[str, str, str]] = [("manager", "replan", prompt)]
    changes: list[dict[str, Any]] | None = None
    answer: ReplanDraft | None = None
    for round_ in (1, 2):
        try:
            answer = await asker.ask(ReplanDraft, prompt, system=MANAGER_SYSTEM)
        except StructuredOutputError as exc:
            raise GoalFailed(f"the manager's re-plan is not valid: {exc.message}", problems=(exc.message,)) from None
        exchange.append(("quarterdeck", "proposal", answer.model_dump_json()))
        try:
            changes = _check(answer, tasks, crew)
            break
        except PlanError as exc:
            problems = [p.message for p in exc.problems]
            if round_ == 2:
                raise GoalFailed(
                    "the manager's re-plan is still invalid:\n" + "\n".join(f"  {p}" for p in problems),
                    problems=tuple(problems),
                ) from None
            prompt += "\n\nYour proposal is invalid:\n" + "\n".join(f"- {p}" for p in problems) + "\nAnswer again."
            exchange.append(("manager", "replan", prompt))
    assert changes is not None
    assert answer is not None
    return Drafted(
        run_id=run_id,
        name=run.name,
        failed_task=failed_task,
        reason=answer.reason,
        changes=tuple(changes),
        tasks=tuple(tasks),
        exchange=tuple(exchange),
    )


async def record(conn: AsyncConnection, drafted: Drafted, asker: Asker) -> Proposal:
    """Keep a re-plan as a proposed plan version, with the manager's messages and costs (caller's transaction)."""
    run_id, failed_task, tasks = drafted.run_id, drafted.failed_task, drafted.tasks
    changes = list(drafted.changes)
    remaining = [t for t in tasks if t.status is not TaskStatus.SUCCEEDED]
    plan = {"name": drafted.name, "tasks": [_entry(t) for t in tasks], "changes": changes}
    version = await crew_store.create_plan_version(
        conn, run_id, plan=plan, author="manager", reason=drafted.reason, status="proposed"
    )
    for recipient, type_, content in drafted.exchange:
        sender = "quarterdeck" if recipient == "manager" else "manager"
        await crew_store.create_message(
            conn,
            run_id,
            sender=sender,
            recipient="quarterdeck" if sender == "manager" else "manager",
            type=type_,
            content=content,
            task_id=failed_task,
            data={"version": version.version},
        )
    for spent in asker.take_spent():
        await spent.record(conn, run_id, failed_task)
    await event_store.create_events(
        conn,
        [
            event_store.NewEvent(
                run_id,
                EventType.PLAN_PROPOSED,
                {
                    "version": version.version,
                    "reason": drafted.reason,
                    "remaining": len(remaining),
                    "changes": [{"action": c["action"], "task": c["task"]} for c in changes],
                },
            )
        ],
    )
    return Proposal(version=version.version, reason=drafted.reason, changes=tuple(changes))


def _entry(task: TaskRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": task.id, "title": task.title, "status": str(task.status), "role": task.role}
    entry["acceptance_criteria"] = [c["text"] for c in task.acceptance_criteria]
    return entry


async def apply_version(conn: AsyncConnection, run_id: str, version: int) -> list[str]:
    """Apply a proposed plan version's changes (in the caller's transaction); returns the new task ids."""
    versions = {v.version: v for v in await crew_store.read_plan_versions(conn, run_id)}
    proposed = versions.get(version)
    if proposed is None:
        raise InputError(f"run {run_id!r} has no plan version {version}")
    if proposed.status != "proposed":
        raise InputError(f"plan version {version} of run {run_id!r} is {proposed.status}, not proposed")
    now = utcnow()
    changes: list[dict[str, Any]] = proposed.plan.get("changes", [])
    # Parsed with stand-ins for the run's tasks, which new tasks may depend on (checked when proposed).
    existing = [{"id": t.id, "title": t.title} for t in await task_store.read_tasks(conn, run_id)]
    entries = [e for c in changes for e in c["tasks"]]
    parsed = planfile.parse_plan(json.dumps({"name": "replan", "tasks": existing + entries}), f"<plan v{version}>.json")
    specs_by_id = {t.id: t for t in parsed.tasks}
    created: list[str] = []
    new: list[event_store.NewEvent] = []
    for change in changes:
        target = await task_store.read_task(conn, run_id, change["task"])
        if target.status not in _CHANGEABLE:
            raise InputError(f"task {target.id!r} is {target.status} now; the re-plan no longer applies")
        specs = [specs_by_id[e["id"]] for e in change["tasks"]]
        # A replacement on the task's own runtime spends through the same provider key.
        keys = {spec.id: target.provider_key for spec in specs if spec.runtime == target.runtime}
        pks = await crew_store.create_tasks(
            conn,
            run_id,
            specs,
            priority=target.priority,
            path_length=target.path_length,
            path_estimate_ms=target.path_estimate_ms,
            provider_keys=keys,
        )
        await crew_store.repoint_dependants(conn, target.pk, list(pks.values()))
        resolved = ",".join(pks) or f"dropped in plan v{version}"
        await crew_store.retire_task(
            conn, target.pk, resolved_by=resolved, reason=f"{change['action']} in plan v{version}", now=now
        )
        created += list(pks)
        new += [event_store.NewEvent(run_id, EventType.TASK_CREATED, {"for": target.id}, t) for t in pks]
    changed = await crew_store.reconcile_waiting(conn, run_id, now=now)
    new += [
        event_store.NewEvent(
            run_id,
            EventType.TASK_READY if status is TaskStatus.READY else EventType.TASK_BLOCKED,
            {} if status is TaskStatus.READY else {"reason": "a dependency failed"},
            task_id,
        )
        for task_id, status in changed
        if status in (TaskStatus.READY, TaskStatus.BLOCKED)
    ]
    await crew_store.update_plan_version(conn, run_id, version, status="applied")
    await crew_store.reopen_run(conn, run_id, now=now)
    new.append(event_store.NewEvent(run_id, EventType.PLAN_APPLIED, {"version": version, "created": created}))
    await event_store.create_events(conn, new)
    return created
