"""The fleet's registry: each worker process, what it offers (labels, runtimes, slots), and its heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.tables import task_requirements, tasks, workers

__all__ = [
    "WorkerRecord",
    "create_worker",
    "read_requirements",
    "read_workers",
    "update_worker",
]


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One worker as it last reported itself."""

    id: str
    hostname: str
    pid: int
    slots: int
    running: int
    labels: tuple[str, ...]
    runtimes: tuple[str, ...]
    unreachable: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None

    @property
    def offers(self) -> frozenset[str]:
        """What a task may require of it: its labels and ``runtime:<name>`` for each of its runtimes."""
        return frozenset(self.labels) | {f"runtime:{name}" for name in self.runtimes}

    def live(self, now: datetime, within_s: float) -> bool:
        return self.stopped_at is None and self.heartbeat_at >= now - timedelta(seconds=within_s)


async def create_worker(
    conn: AsyncConnection,
    *,
    worker_id: str,
    hostname: str,
    pid: int,
    slots: int,
    labels: Sequence[str],
    runtimes: Sequence[str],
    now: datetime,
) -> None:
    """Register a worker (again, if its id was seen before: a restart with the same id starts afresh)."""
    await conn.execute(workers.delete().where(workers.c.id == worker_id))
    await conn.execute(
        workers.insert().values(
            id=worker_id,
            hostname=hostname[:255],
            pid=pid,
            slots=slots,
            running=0,
            labels=sorted(labels),
            runtimes=sorted(runtimes),
            unreachable=[],
            started_at=now,
            heartbeat_at=now,
            stopped_at=None,
        )
    )


async def update_worker(
    conn: AsyncConnection,
    worker_id: str,
    *,
    now: datetime,
    running: int,
    unreachable: Sequence[str],
    stopped: bool = False,
    runtimes: Sequence[str] | None = None,
) -> None:
    """The worker's heartbeat: how busy it is and which repositories it cannot reach; ``stopped`` when it exits;
    ``runtimes`` when what it offers changed (its agent CLIs found working)."""
    values: dict[str, object] = {
        "heartbeat_at": now,
        "running": running,
        "unreachable": sorted(unreachable),
        "stopped_at": now if stopped else None,
    }
    if runtimes is not None:
        values["runtimes"] = sorted(runtimes)
    await conn.execute(workers.update().where(workers.c.id == worker_id).values(**values))


async def read_workers(conn: AsyncConnection, *, since: datetime | None = None) -> list[WorkerRecord]:
    """Every registered worker (heard from since ``since``, when given), the most recent first."""
    query = sa.select(workers).order_by(workers.c.heartbeat_at.desc(), workers.c.id)
    if since is not None:
        query = query.where(workers.c.heartbeat_at >= since)
    rows = await conn.execute(query)
    return [
        WorkerRecord(
            id=row.id,
            hostname=row.hostname,
            pid=row.pid,
            slots=row.slots,
            running=row.running,
            labels=tuple(row.labels),
            runtimes=tuple(row.runtimes),
            unreachable=tuple(row.unreachable),
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
        )
        for row in rows
    ]


async def read_requirements(conn: AsyncConnection, run_id: str) -> dict[str, tuple[str, ...]]:
    """What each task of the run that requires anything requires, by task id."""
    rows = await conn.execute(
        sa.select(tasks.c.id, task_requirements.c.requirement)
        .join(task_requirements, task_requirements.c.task_pk == tasks.c.pk)
        .where(tasks.c.run_id == run_id)
        .order_by(tasks.c.id, task_requirements.c.requirement)
    )
    found: dict[str, list[str]] = {}
    for task_id, requirement in rows:
        found.setdefault(task_id, []).append(requirement)
    return {task_id: tuple(needs) for task_id, needs in found.items()}
