"""The decision steps of the runs a crew drives: which is due, who holds it, and for how long.

A run a crew drives (a goal's) has one row. Its ``step`` names the decision the run needs next —
``plan`` the goal, ``replan`` after a task failed for good, open a ``budget`` approval — and any process
that runs workers claims it under a lease (``claim_steps``), renews the lease while the step runs and
ends it in the transaction that writes the step's result (``end_step``, fenced by the holder). A
process that dies mid-step loses nothing: its lease expires and another process takes the step. A step
that met a system failure (its repository's remote or the database away) is deferred (``defer_step``):
handed back to nobody until a time, as a lease no process holds, and not counted as a try. A step's model
answer is checkpointed as soon as it arrives (``checkpoint_step``), so a step taken over reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.errors import NotFound
from quarterdeck.security.redaction import redact
from quarterdeck.store.tables import supervision

__all__ = [
    "MAX_REPLANS",
    "STEPS",
    "Supervision",
    "any_due",
    "checkpoint_step",
    "claim_steps",
    "create_supervision",
    "defer_step",
    "end_step",
    "read_supervision",
    "release_step",
    "renew_step",
    "request_step",
]

#: the steps a supervised run can need
STEPS = ("plan", "replan", "budget")
#: how many times one run is re-planned before a task's failure stands
MAX_REPLANS = 3


@dataclass(frozen=True, slots=True)
class Supervision:
    """A supervised run's row: the step due (None: none), the re-plans spent, who holds the step."""

    run_id: str
    approve: bool
    step: str | None
    task_id: str | None
    replans: int
    tries: int
    actor: str
    holder: str | None
    lease_expires_at: datetime | None
    #: the step's model answer, checkpointed when it arrived (None: not asked yet, or it never arrived)
    answer: dict[str, Any] | None = None


def _record(row: sa.Row[tuple[object, ...]]) -> Supervision:
    m = row._mapping
    return Supervision(
        run_id=m["run_id"],
        approve=bool(m["approve"]),
        step=m["step"],
        task_id=m["task_id"],
        replans=m["replans"],
        tries=m["tries"],
        actor=m["actor"],
        holder=m["holder"],
        lease_expires_at=m["lease_expires_at"],
        answer=m["answer"],
    )


async def create_supervision(
    conn: AsyncConnection, run_id: str, *, approve: bool, actor: str, step: str | None, now: datetime
) -> None:
    """Supervise a run: its decision steps run server-side from now on."""
    await conn.execute(
        supervision.insert().values(
            run_id=run_id, approve=approve, step=step, replans=0, tries=0, actor=actor, updated_at=now
        )
    )


async def read_supervision(conn: AsyncConnection, run_id: str) -> Supervision | None:
    """The run's row, or None when no crew drives it."""
    row = (await conn.execute(sa.select(supervision).where(supervision.c.run_id == run_id))).first()
    return None if row is None else _record(row)


async def read_supervision_or_404(conn: AsyncConnection, run_id: str) -> Supervision:
    found = await read_supervision(conn, run_id)
    if found is None:
        raise NotFound(f"no crew drives run {run_id!r}")
    return found


async def request_step(
    conn: AsyncConnection, run_id: str, step: str, *, now: datetime, task_id: str | None = None
) -> bool:
    """Make ``step`` due for a supervised run with no step due; False if the run is not supervised (or busy).

    A ``replan`` is due only while the run has re-plans left."""
    where = [supervision.c.run_id == run_id, supervision.c.step.is_(None)]
    if step == "replan":
        where.append(supervision.c.replans < MAX_REPLANS)
    result = await conn.execute(
        supervision.update()
        .where(*where)
        .values(step=step, task_id=task_id, tries=0, holder=None, lease_expires_at=None, answer=None, updated_at=now)
    )
    return result.rowcount == 1


def _free(holder: str, now: datetime) -> sa.ColumnElement[bool]:
    # A holder never takes its own step again (it still runs it, though its lease may have lapsed); a deferred
    # step (no holder, a lease until a time) waits for that time.
    return sa.or_(
        sa.and_(
            supervision.c.holder.is_(None),
            sa.or_(supervision.c.lease_expires_at.is_(None), supervision.c.lease_expires_at <= now),
        ),
        sa.and_(supervision.c.holder != holder, supervision.c.lease_expires_at < now),
    )


async def any_due(conn: AsyncConnection, *, holder: str, now: datetime, run_id: str | None = None) -> bool:
    """Whether a step is due that ``holder`` could take (a read: an idle poll takes no write lock)."""
    query = sa.select(supervision.c.run_id).where(supervision.c.step.is_not(None), _free(holder, now)).limit(1)
    if run_id is not None:
        query = query.where(supervision.c.run_id == run_id)
    return (await conn.execute(query)).first() is not None


async def claim_steps(
    conn: AsyncConnection, *, holder: str, lease_s: float, now: datetime, run_id: str | None = None, limit: int = 4
) -> list[Supervision]:
    """Take up to ``limit`` due steps nobody holds (or whose holder's lease expired), under a lease."""
    free = _free(holder, now)
    query = sa.select(supervision.c.run_id).where(supervision.c.step.is_not(None), free)
    if run_id is not None:
        query = query.where(supervision.c.run_id == run_id)
    due = (await conn.execute(query.order_by(supervision.c.updated_at).limit(limit))).scalars().all()
    claimed: list[Supervision] = []
    for candidate in due:
        # A conditional update: of two processes that saw the step free, one takes it.
        taken = (
            await conn.execute(
                supervision.update()
                .where(supervision.c.run_id == candidate, supervision.c.step.is_not(None), free)
                .values(
                    holder=holder,
                    lease_expires_at=now + timedelta(seconds=lease_s),
                    tries=supervision.c.tries + 1,
                    updated_at=now,
                )
                .returning(*supervision.c)
            )
        ).first()
        if taken is not None:
            claimed.append(_record(taken))
    return claimed


async def renew_step(conn: AsyncConnection, run_id: str, *, holder: str, lease_s: float, now: datetime) -> bool:
    """Extend the holder's lease; False if it lost the step."""
    result = await conn.execute(
        supervision.update()
        .where(supervision.c.run_id == run_id, supervision.c.holder == holder)
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1


async def release_step(conn: AsyncConnection, run_id: str, *, holder: str, now: datetime) -> bool:
    """Give the holder's step back at once, for any process (this one included) to take again."""
    result = await conn.execute(
        supervision.update()
        .where(supervision.c.run_id == run_id, supervision.c.holder == holder)
        .values(holder=None, lease_expires_at=None, updated_at=now)
    )
    return result.rowcount == 1


async def defer_step(conn: AsyncConnection, run_id: str, *, holder: str, now: datetime, until: datetime) -> bool:
    """Give the holder's step back for any process to take again from ``until`` on, the try not counted (a system
    failure is never the step's); False if it lost the step."""
    result = await conn.execute(
        supervision.update()
        .where(supervision.c.run_id == run_id, supervision.c.holder == holder)
        .values(holder=None, lease_expires_at=until, tries=supervision.c.tries - 1, updated_at=now)
    )
    return result.rowcount == 1


async def checkpoint_step(conn: AsyncConnection, run_id: str, *, holder: str, answer: dict[str, Any]) -> bool:
    """Keep the step's model answer (redacted: a model may quote a secret), fenced by the holder; False if it lost
    the step."""
    result = await conn.execute(
        supervision.update()
        .where(supervision.c.run_id == run_id, supervision.c.holder == holder)
        .values(answer=redact(answer))
    )
    return result.rowcount == 1


async def end_step(conn: AsyncConnection, run_id: str, *, holder: str, now: datetime, replanned: bool = False) -> bool:
    """The holder's step is done (in the transaction that wrote its result); False if it lost the step."""
    values: dict[str, object] = {
        "step": None,
        "task_id": None,
        "holder": None,
        "lease_expires_at": None,
        "answer": None,
        "updated_at": now,
    }
    if replanned:
        values["replans"] = supervision.c.replans + 1
    result = await conn.execute(
        supervision.update().where(supervision.c.run_id == run_id, supervision.c.holder == holder).values(**values)
    )
    return result.rowcount == 1
