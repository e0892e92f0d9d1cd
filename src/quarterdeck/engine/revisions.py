"""Revisions of a task that already landed: one more attempt that continues its agent's session.

Review feedback on a pull request (``quarterdeck.forges.reviews``) reopens the task that owns the
lines: it becomes ``ready`` again with a checkpoint that continues its agent's session at ``at`` (the
integration branch's head) with the feedback as the next turn — the same path a retry after a failed
check takes (``attempt._carried``) — and its run runs again. Its new commit lands on the integration
branch and is pushed like any other. A task whose runtime keeps no session starts afresh from the
integration branch, its prompt followed by the feedback.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.tables import runs, tasks

__all__ = ["reopen"]


async def reopen(conn: AsyncConnection, run_id: str, task_id: str, turn: str, *, at: str | None, now: datetime) -> bool:
    """Give a succeeded task an attempt that continues its session with ``turn``; False when it is not succeeded.

    A task reopened already and not yet claimed gets ``turn`` added to the one waiting.
    """
    await run_store.lock_run(conn, run_id)
    task = await task_store.read_task(conn, run_id, task_id)
    checkpoint = task.checkpoint
    if task.status is TaskStatus.READY and checkpoint.revision:
        told = replace(checkpoint, failure=f"{checkpoint.failure or ''}\n\n{turn}".strip())
        await conn.execute(tasks.update().where(tasks.c.pk == task.pk).values(checkpoint=told.to_json()))
        return True
    if task.status is not TaskStatus.SUCCEEDED:
        return False
    carried = Checkpoint(failure=turn, revision=True)
    if checkpoint.has_session and at:
        carried = replace(checkpoint.session(), failure=turn, revision=True, retry_from=at)
    changed = await conn.execute(
        tasks.update()
        .where(tasks.c.pk == task.pk, tasks.c.status == TaskStatus.SUCCEEDED)
        .values(
            status=TaskStatus.READY,
            checkpoint=carried.to_json(),
            failures=0,
            error=None,
            not_before=None,
            finished_at=None,
            max_attempts=sa.func.max(tasks.c.max_attempts, tasks.c.attempts + 1)
            if conn.dialect.name == "sqlite"
            else sa.func.greatest(tasks.c.max_attempts, tasks.c.attempts + 1),
        )
    )
    if changed.rowcount != 1:
        return False
    await conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status.in_([RunStatus.SUCCEEDED, RunStatus.FAILED]))
        .values(status=RunStatus.RUNNING, finished_at=None, updated_at=now)
    )
    await event_store.create_events(
        conn, [event_store.NewEvent(run_id, EventType.TASK_REQUEUED, {"revision": True, "waiting": []}, task_id)]
    )
    return True
