"""A run's wait for merge approvals: ``waiting`` / ``merge`` while a task's landing waits for a person.

Unlike the other waits, a merge wait stops only the tasks whose landing waits: the run's other ready
tasks are still claimed and run (``TAKES_WORK``). The wait is kept in step with the approvals rather
than counted: ``update_merge_wait`` looks at the run's pending merge approvals of unfinished tasks and
moves the run between ``running`` and ``waiting`` / ``merge``. A pause or a budget wait takes
precedence (the run is then ``paused`` or ``waiting`` / ``budget``); whatever ends them calls
``update_merge_wait`` again, and a merge approval still pending puts the run back to waiting for it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.statuses import TERMINAL_TASK, RunStatus, WaitingFor
from quarterdeck.store.tables import approvals, runs, tasks
from quarterdeck.store.types import utcnow

__all__ = ["MERGE_WAIT", "TAKES_WORK", "update_merge_wait"]

#: a run that waits only for merge approvals
MERGE_WAIT = sa.and_(runs.c.status == RunStatus.WAITING, runs.c.waiting_for == WaitingFor.MERGE.value)
#: a run whose ready tasks workers claim and whose steps may reserve budget (``domain.statuses.takes_work``)
TAKES_WORK = sa.or_(runs.c.status == RunStatus.RUNNING, MERGE_WAIT)


async def update_merge_wait(conn: AsyncConnection, run_id: str) -> RunStatus | None:
    """Put a running run with a task waiting for its merge approval to ``waiting`` / ``merge``, or a run
    waiting for merges with none left back to ``running``; returns the status it moved to, or None.

    The run's row is locked first, so two transactions opening and deciding merge approvals of one run
    at once see each other's commit (PostgreSQL's READ COMMITTED would otherwise let the later one
    decide from a stale view of the approvals).
    """
    await conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id).with_for_update())
    pending = sa.exists().where(
        approvals.c.run_id == run_id,
        approvals.c.kind == "merge",
        approvals.c.status == "pending",
        tasks.c.run_id == run_id,
        tasks.c.id == approvals.c.task_id,
        tasks.c.status.not_in(list(TERMINAL_TASK)),  # a cancelled or failed task's approval waits for nothing
    )
    waits = bool((await conn.execute(sa.select(pending))).scalar())
    now = utcnow()
    if waits:
        moved = await conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING)
            .values(status=RunStatus.WAITING, waiting_for=WaitingFor.MERGE.value, updated_at=now)
        )
        return RunStatus.WAITING if moved.rowcount == 1 else None
    moved = await conn.execute(
        runs.update()
        .where(runs.c.id == run_id, MERGE_WAIT)
        .values(status=RunStatus.RUNNING, waiting_for=None, updated_at=now)
    )
    return RunStatus.RUNNING if moved.rowcount == 1 else None
