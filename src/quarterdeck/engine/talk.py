"""Talking to a task's agent: a person's follow-up message becomes a new turn in the agent's session, and a
task's prompt and options can be edited before it is retried. Both are recorded in the run's audit trail.

Where a follow-up goes depends on the task:

- **running** — it waits in the task's messages; the attempt hands it to the agent after its current turn,
  in the same session (``attempt.hear``), before the work is checked;
- **succeeded** — the task is reopened as a revision (``revisions.reopen``): its session continues at the
  integration branch's head with the message as its turn, and the new commit lands like any other;
- **failed, conflicted or cancelled** — it is re-queued with fresh attempts and the message: a session that
  can go on (its work was committed) continues with the failure and the message, else the agent starts
  afresh, its prompt followed by both;
- **waiting** (pending or ready) — the message is added to what its first attempt is told.

A blocked task is refused (retry the dependency that failed first), and so is a running task whose agent has
had its last turn of the attempt (its work is being checked and landed): said again once it has ended, the
message reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from quarterdeck.domain import plans
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import DEAD_TASK, TaskStatus
from quarterdeck.engine import revisions, submit
from quarterdeck.errors import InputError, WorkspaceError
from quarterdeck.runtimes.registry import Registry
from quarterdeck.store import control as control_store
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import followups, wakeups
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow
from quarterdeck.workspaces import worktrees

__all__ = ["MAX_MESSAGE", "Said", "edit", "say"]

#: the longest follow-up a person may send
MAX_MESSAGE = 20_000


@dataclass(frozen=True, slots=True)
class Said:
    """What became of a follow-up."""

    message_id: int
    #: after_turn | revision | retry | with_prompt
    delivery: str
    #: the task's status now
    status: str


def _added(checkpoint: Checkpoint, message: str, message_id: int) -> Checkpoint:
    said = checkpoint.said
    return replace(checkpoint, said=f"{said}\n\n{message}" if said else message, heard=message_id)


async def say(db: Database, run_id: str, task_id: str, message: str, *, by: str) -> Said:
    """Send ``message`` to the task's agent as a new turn (see the module's docstring for when).

    Raises:
        NotFound: no such run or task.
        InputError: an empty or too long message, or a blocked task.
    """
    message = message.strip()
    if not message:
        raise InputError("say something: the message is empty")
    if len(message) > MAX_MESSAGE:
        raise InputError(f"the message is longer than {MAX_MESSAGE} characters")
    async with db.transaction() as conn:
        await run_store.lock_run(conn, run_id)
        run = await run_store.read_run(conn, run_id)
        task = await task_store.read_task(conn, run_id, task_id)
        if task.status is TaskStatus.BLOCKED:
            raise InputError(
                f"task {task_id!r} is blocked by a failed dependency: retry that first ({task.error or 'blocked'})"
            )
        status = task.status
        now = utcnow()
        if status is TaskStatus.RUNNING and task.checkpoint.agent:
            raise InputError(
                f"task {task_id!r} is past its agent's last turn (its work is being checked and landed): "
                "say it again once it has ended, and it is reopened as a revision"
            )
        if status is TaskStatus.RUNNING:
            delivery = "after_turn"
        elif status is TaskStatus.SUCCEEDED:
            delivery = "revision"
        elif status in DEAD_TASK:
            delivery = "retry"
        else:
            delivery = "with_prompt"
        message_id = await followups.create_follow_up(
            conn, run_id, task_id, sender=by, content=message, data={"delivery": delivery, "status": status}, now=now
        )
        if delivery == "revision":
            head = await _head(Path(run.repo_path), run.integration_branch)
            await revisions.reopen(conn, run_id, task_id, message, at=head, now=now)
            reopened = await task_store.read_task(conn, run_id, task_id)
            checkpoint = replace(reopened.checkpoint, failure=None)
            await followups.update_task_checkpoint(conn, task.pk, _added(checkpoint, message, message_id))
        elif delivery == "retry":
            waiting = await control_store.requeue_task(conn, run_id, task_id, now=now)
            await followups.update_task_checkpoint(conn, task.pk, _added(task.checkpoint, message, message_id))
            await event_store.create_events(
                conn,
                [event_store.NewEvent(run_id, EventType.TASK_REQUEUED, {"waiting": waiting, "said": True}, task_id)],
            )
        elif delivery == "with_prompt":
            await followups.update_task_checkpoint(conn, task.pk, _added(task.checkpoint, message, message_id))
        await event_store.create_events(
            conn,
            [
                event_store.NewEvent(
                    run_id, EventType.TASK_SAID, {"by": by, "delivery": delivery, "message": message}, task_id
                )
            ],
        )
        await wakeups.announce_ready(conn, db.dialect)
        now_status = (await task_store.read_task(conn, run_id, task_id)).status
    return Said(message_id=message_id, delivery=delivery, status=now_status.value)


async def _head(repo: Path, branch: str) -> str | None:
    try:
        return await worktrees.resolve_commit(repo, branch)
    except WorkspaceError:
        return None


#: a task's spec may change while no attempt runs and before it (re)starts
_EDITABLE = [TaskStatus.PENDING, TaskStatus.READY, *DEAD_TASK]


async def edit(
    db: Database,
    registry: Registry,
    run_id: str,
    task_id: str,
    *,
    by: str,
    prompt: str | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Change a task's prompt and/or options before it is retried (or before it starts).

    Raises:
        NotFound: no such run or task.
        InputError: the task is running or ended well, or nothing was given.
        PlanError: options its runtime refuses (each problem named).
    """
    if prompt is None and options is None:
        raise InputError("give a new prompt or new options")
    if prompt is not None and not prompt.strip():
        raise InputError("the prompt may not be empty")
    async with db.transaction() as conn:
        await run_store.lock_run(conn, run_id)
        task = await task_store.read_task(conn, run_id, task_id)
        if task.status not in _EDITABLE:
            raise InputError(
                f"task {task_id!r} is {task.status}: only a waiting, failed, conflicted or cancelled task can be edited"
            )
        if options is not None:
            spec = plans.TaskSpec(
                id=task.id,
                title=task.title,
                runtime=task.runtime,
                options=options,
                source=plans.SourceRef(f"task {task.id}", 0),
            )
            submit.check_runtimes(plans.Plan(name="edit", tasks=(spec,)), registry)
        changed = await followups.update_task_spec(
            conn, task.pk, statuses=[s.value for s in _EDITABLE], prompt=prompt, options=options
        )
        if not changed:  # pragma: no cover - the run is locked: its status cannot have moved
            raise InputError(f"task {task_id!r} started meanwhile: edit it before a retry")
        what = " and ".join(w for w, v in (("prompt", prompt), ("options", options)) if v is not None)
        data: dict[str, Any] = {"before": {"prompt": task.prompt, "options": task.options}}
        data["after"] = {k: v for k, v in (("prompt", prompt), ("options", options)) if v is not None}
        await crew_store.create_message(
            conn, run_id, sender=by, recipient=f"agent:{task_id}", type="edit", content=f"edited the {what}",
            task_id=task_id, data=data,
        )  # fmt: skip
        await event_store.create_events(
            conn,
            [event_store.NewEvent(run_id, EventType.TASK_EDITED, {"by": by, "changed": what.split(" and ")}, task_id)],
        )
