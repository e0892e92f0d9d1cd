"""Steering a run: cancel, pause and resume it; cancel, re-queue and re-prioritise its tasks.

Like every other status change, these are conditional updates whose allowed sources come from the
domain's transition rules. A cancelled running task loses its lease token, so its worker's next
heartbeat fails and the worker stops the agent's process group.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import DEAD_TASK, AttemptStatus, RunStatus, TaskStatus, WaitingFor
from quarterdeck.errors import InputError
from quarterdeck.store import budgets
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.records import Claim
from quarterdeck.store.tables import attempts, runs, tasks

__all__ = ["cancel_run", "cancel_task", "prioritize_task", "release_task", "requeue_task"]


async def cancel_task(conn: AsyncConnection, run_id: str, task_id: str, *, now: datetime) -> list[str]:
    """Cancel one unfinished task and block its dependants; returns the ids that became blocked."""
    task = await task_store.read_task(conn, run_id, task_id)
    result = await conn.execute(
        tasks.update()
        .where(tasks.c.pk == task.pk, tasks.c.status.in_(task_store.allowed_from(TaskStatus.CANCELLED)))
        .values(
            status=TaskStatus.CANCELLED,
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
            error="cancelled",
            finished_at=now,
        )
    )
    if result.rowcount != 1:
        raise InputError(f"task {task_id!r} is {task.status}; only unfinished tasks can be cancelled")
    cancelled = await conn.execute(
        attempts.update()
        .where(attempts.c.task_pk == task.pk, attempts.c.status == AttemptStatus.RUNNING)
        .values(status=AttemptStatus.CANCELLED, finished_at=now, error="cancelled")
        .returning(attempts.c.id)
    )
    await budgets.release_reservations(conn, list(cancelled.scalars().all()))
    return await task_store.block_dependants(conn, task.pk, f"dependency {task_id!r} was cancelled", now)


async def cancel_run(conn: AsyncConnection, run_id: str, *, now: datetime) -> list[str]:
    """Cancel every unfinished task of the run and the run itself; returns the cancelled task ids."""
    run = await run_store.read_run(conn, run_id)
    if run.status.terminal:
        raise InputError(f"run {run_id!r} already ended ({run.status})")
    unfinished = await conn.execute(
        tasks.update()
        .where(tasks.c.run_id == run_id, tasks.c.status.in_(task_store.allowed_from(TaskStatus.CANCELLED)))
        .values(
            status=TaskStatus.CANCELLED,
            lease_token=None,
            lease_expires_at=None,
            worker_id=None,
            error="run cancelled",
            finished_at=now,
        )
        .returning(tasks.c.pk, tasks.c.id)
    )
    cancelled = [(pk, task_id) for pk, task_id in unfinished]
    if cancelled:
        stopped = await conn.execute(
            attempts.update()
            .where(attempts.c.task_pk.in_([pk for pk, _ in cancelled]), attempts.c.status == AttemptStatus.RUNNING)
            .values(status=AttemptStatus.CANCELLED, finished_at=now, error="run cancelled")
            .returning(attempts.c.id)
        )
        await budgets.release_reservations(conn, list(stopped.scalars().all()))
    await run_store.update_run_status(
        conn,
        run_id,
        RunStatus.CANCELLED,
        allowed_from=[RunStatus.PLANNING, RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.WAITING],
    )
    return sorted(task_id for _, task_id in cancelled)


async def prioritize_task(conn: AsyncConnection, run_id: str, task_id: str, priority: int) -> None:
    """Change a task's priority; it takes effect at the next claim."""
    task = await task_store.read_task(conn, run_id, task_id)
    await conn.execute(tasks.update().where(tasks.c.pk == task.pk).values(priority=priority))


async def requeue_task(conn: AsyncConnection, run_id: str, task_id: str, *, now: datetime) -> list[str]:
    """Give a failed or cancelled task (a dead letter) a fresh set of attempts.

    The tasks it blocked wait again (unless something else they depend on also failed), and an
    ended run runs again. Returns the ids of the tasks that wait again.
    """
    task = await task_store.read_task(conn, run_id, task_id)
    if task.status not in DEAD_TASK:
        raise InputError(
            f"task {task_id!r} is {task.status}; only failed, conflicted or cancelled tasks can be re-queued"
        )
    # A task cancelled before its dependencies were done goes back to waiting for them.
    target = TaskStatus.READY if task.pending_deps == 0 else TaskStatus.PENDING
    await conn.execute(
        tasks.update()
        .where(tasks.c.pk == task.pk, tasks.c.status.in_(task_store.allowed_from(target)))
        .values(status=target, failures=0, error=None, not_before=None, finished_at=None)
    )
    waiting = await conn.execute(
        tasks.update()
        .where(
            tasks.c.pk.in_(task_store.descendants(task.pk)),
            tasks.c.status.in_(task_store.allowed_from(TaskStatus.PENDING)),
        )
        .values(status=TaskStatus.PENDING, error=None, finished_at=None)
        .returning(tasks.c.id)
    )
    unblocked = set(waiting.scalars().all())
    # Anything that still depends on another failed or cancelled task stays blocked.
    others = await conn.execute(
        sa.select(tasks.c.pk, tasks.c.id).where(
            tasks.c.run_id == run_id,
            tasks.c.status.in_(list(DEAD_TASK)),
            tasks.c.pk != task.pk,
        )
    )
    for pk, other_id in list(others):
        unblocked -= set(await task_store.block_dependants(conn, pk, f"dependency {other_id!r} failed", now))
    await conn.execute(
        runs.update()
        .where(
            runs.c.id == run_id,
            sa.or_(
                runs.c.status.in_([RunStatus.FAILED, RunStatus.CANCELLED]),
                sa.and_(runs.c.status == RunStatus.WAITING, runs.c.waiting_for == WaitingFor.REPLAN.value),
            ),
        )
        .values(status=RunStatus.RUNNING, finished_at=None, updated_at=now, waiting_for=None)
    )
    return sorted(unblocked)


async def release_task(conn: AsyncConnection, claim: Claim, *, now: datetime, reason: str | None = None) -> bool:
    """Hand a claimed task back to ``ready`` at once (a worker stopping hard, or an attempt that met an
    infrastructure error: ``reason``), fenced by the lease; the attempt ends cancelled, not failed."""
    result = await conn.execute(
        tasks.update()
        .where(
            tasks.c.pk == claim.task.pk,
            tasks.c.lease_token == claim.lease_token,
            tasks.c.status == TaskStatus.RUNNING,
        )
        .values(status=TaskStatus.READY, lease_token=None, lease_expires_at=None, worker_id=None)
    )
    if result.rowcount != 1:
        return False
    await conn.execute(
        attempts.update()
        .where(attempts.c.id == claim.attempt_id)
        .values(status=AttemptStatus.CANCELLED, finished_at=now, error=reason or "worker stopped; released")
    )
    await budgets.release_reservations(conn, [claim.attempt_id])
    return True
