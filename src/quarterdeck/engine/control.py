"""Steering runs and tasks: each operation is one transaction with its events and the run's end."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.errors import InputError
from quarterdeck.store import budgets, merge_waits, wakeups
from quarterdeck.store import control as control_store
from quarterdeck.store import crews as crew_store
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow

__all__ = [
    "add_budget",
    "cancel_run",
    "cancel_task",
    "ended",
    "follow_merge_wait",
    "pause_run",
    "prioritize_task",
    "requeue_task",
    "unpause_run",
]


def ended(run_id: str, status: RunStatus) -> event_store.NewEvent:
    """The event of a run whose tasks all ended: it finished, or (a crew's) it waits for a re-plan."""
    if status is RunStatus.WAITING:
        return event_store.NewEvent(run_id, EventType.RUN_WAITING, {"for": str(WaitingFor.REPLAN)})
    return event_store.NewEvent(run_id, EventType.RUN_FINISHED, {"status": str(status)})


async def _finish_if_done(conn: AsyncConnection, run_id: str, new: list[event_store.NewEvent]) -> None:
    final = await run_store.finish_run_if_done(conn, run_id)
    if final is not None:
        new.append(ended(run_id, final))


async def finish_after_commit(db: Database, run_id: str) -> bool:
    """Run the end-of-run check again in a new transaction, which sees every concurrent commit.

    Under READ COMMITTED (PostgreSQL) two writers ending a run's last tasks at the same moment each
    see the other's task unfinished; whoever commits last and then looks again sees everything.
    """
    async with db.transaction() as conn:
        final = await run_store.finish_run_if_done(conn, run_id)
        if final is not None:
            await event_store.create_events(conn, [ended(run_id, final)])
    return final is not None


def _who(by: str | None, **payload: object) -> dict[str, object]:
    """An event's payload with the person (or key) who asked for it, for the audit trail."""
    return {**payload, "by": by} if by else payload


async def follow_merge_wait(
    conn: AsyncConnection, run_id: str, *, by: str | None = None, task_id: str | None = None
) -> list[event_store.NewEvent]:
    """Keep the run's merge wait in step with its merge approvals (``store/merge_waits.py``); the events of
    its move: ``run.waiting`` for ``merge`` (naming ``task_id``, when given), or ``run.resumed`` (by ``by``)."""
    moved = await merge_waits.update_merge_wait(conn, run_id)
    merge = str(WaitingFor.MERGE)
    if moved is RunStatus.WAITING:
        payload = {"for": merge, "task": task_id} if task_id else {"for": merge}
        return [event_store.NewEvent(run_id, EventType.RUN_WAITING, payload)]
    if moved is RunStatus.RUNNING:
        return [event_store.NewEvent(run_id, EventType.RUN_RESUMED, _who(by, **{"for": merge}))]
    return []


async def cancel_task(db: Database, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
    """Cancel a task (a running agent is stopped at its next heartbeat); returns the tasks it blocked."""
    async with db.transaction() as conn:
        await run_store.lock_run(conn, run_id)
        blocked = await control_store.cancel_task(conn, run_id, task_id, now=utcnow())
        new = [event_store.NewEvent(run_id, EventType.TASK_CANCELLED, _who(by, blocked=blocked), task_id)]
        new += [
            event_store.NewEvent(run_id, EventType.TASK_BLOCKED, {"reason": f"dependency {task_id!r} was cancelled"}, t)
            for t in blocked
        ]
        await _finish_if_done(conn, run_id, new)
        new += await follow_merge_wait(conn, run_id, by=by)  # its merge approval, if it had one, waits for nothing
        await event_store.create_events(conn, new)
    if db.dialect == "postgresql":
        await finish_after_commit(db, run_id)
    return blocked


async def cancel_run(db: Database, run_id: str, *, by: str | None = None) -> list[str]:
    """Cancel a run and every unfinished task in it; returns the cancelled task ids."""
    async with db.transaction() as conn:
        await run_store.lock_run(conn, run_id)
        cancelled = await control_store.cancel_run(conn, run_id, now=utcnow())
        new = [event_store.NewEvent(run_id, EventType.TASK_CANCELLED, {"blocked": []}, t) for t in cancelled]
        new.append(event_store.NewEvent(run_id, EventType.RUN_CANCELLED, _who(by, tasks=cancelled)))
        await event_store.create_events(conn, new)
    return cancelled


async def pause_run(db: Database, run_id: str, *, by: str | None = None) -> None:
    """Stop starting new tasks of the run; running ones finish."""
    async with db.transaction() as conn:
        run = await run_store.read_run(conn, run_id)
        # a run waiting for merge approvals still works on its other tasks: it can be paused (and resumes waiting)
        if not await run_store.update_run_status(conn, run_id, RunStatus.PAUSED, allowed_from=run_store.TAKING_WORK):
            shown = f"waiting for {run.waiting_for}" if run.status is RunStatus.WAITING else str(run.status)
            raise InputError(f"run {run_id!r} is {shown}; only a running run can be paused")
        await event_store.create_events(conn, [event_store.NewEvent(run_id, EventType.RUN_PAUSED, _who(by))])


async def unpause_run(db: Database, run_id: str, *, by: str | None = None) -> bool:
    """Let a paused run start tasks again; False if it was not paused.

    Raises:
        InputError: the run waits for its plan to be approved (a decision, not a resume, starts it).
    """
    async with db.transaction() as conn:
        await run_store.read_run(conn, run_id)
        waiting = await crew_store.read_approvals(conn, run_id=run_id, kind="plan", status="pending")
        if waiting:
            raise InputError(
                f"run {run_id} waits for its plan to be approved: quarterdeck approvals approve {waiting[0].id}"
            )
        moved = await run_store.update_run_status(conn, run_id, RunStatus.RUNNING, allowed_from=[RunStatus.PAUSED])
        if moved:
            new = [event_store.NewEvent(run_id, EventType.RUN_RESUMED, _who(by))]
            await _finish_if_done(conn, run_id, new)  # nothing left to do: no worker would ever end it
            new += await follow_merge_wait(conn, run_id)  # a merge approval still pending: it waits for it again
            await event_store.create_events(conn, new)
            await wakeups.announce_ready(conn, db.dialect)
    return moved


async def prioritize_task(db: Database, run_id: str, task_id: str, priority: int, *, by: str | None = None) -> None:
    async with db.transaction() as conn:
        await control_store.prioritize_task(conn, run_id, task_id, priority)
        await event_store.create_events(
            conn, [event_store.NewEvent(run_id, EventType.TASK_PRIORITIZED, _who(by, priority=priority), task_id)]
        )


async def requeue_task(db: Database, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
    """Give a dead-letter task fresh attempts; returns the dependants that wait again."""
    async with db.transaction() as conn:
        await run_store.lock_run(conn, run_id)
        waiting = await control_store.requeue_task(conn, run_id, task_id, now=utcnow())
        new = [event_store.NewEvent(run_id, EventType.TASK_REQUEUED, _who(by, waiting=waiting), task_id)]
        await event_store.create_events(conn, new + await follow_merge_wait(conn, run_id))
        await wakeups.announce_ready(conn, db.dialect)
    return waiting


async def add_budget(db: Database, run_id: str, amount_usd: float, *, by: str | None = None) -> float:
    """Raise a run's budget; a run stopped for budget runs again. Returns the new limit."""
    async with db.transaction() as conn:
        limit = await budgets.add_budget(conn, run_id, amount_usd)
        new = [
            event_store.NewEvent(run_id, EventType.RUN_BUDGET_RAISED, _who(by, budget_usd=limit, added_usd=amount_usd))
        ]
        await event_store.create_events(conn, new + await follow_merge_wait(conn, run_id))
        await wakeups.announce_ready(conn, db.dialect)
    return limit
