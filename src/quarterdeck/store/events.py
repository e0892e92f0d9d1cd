"""Event repository: the append-only log of everything that happened in a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.records import EventRecord
from quarterdeck.store.tables import events
from quarterdeck.store.types import utcnow

__all__ = ["NewEvent", "create_events", "read_events"]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append."""

    run_id: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    attempt_id: str | None = None


async def create_events(conn: AsyncConnection, new: Sequence[NewEvent]) -> None:
    """Append events in order."""
    if not new:
        return
    now = utcnow()
    await conn.execute(
        events.insert(),
        [
            {
                "run_id": e.run_id,
                "task_id": e.task_id,
                "attempt_id": e.attempt_id,
                "type": e.type,
                "payload": e.payload,
                "created_at": now,
            }
            for e in new
        ],
    )


async def read_events(
    conn: AsyncConnection,
    run_id: str,
    *,
    after_id: int = 0,
    task_id: str | None = None,
    types: Sequence[str] = (),
    limit: int = 1000,
) -> list[EventRecord]:
    """Events of a run after ``after_id``, oldest first."""
    query = sa.select(events).where(events.c.run_id == run_id, events.c.id > after_id)
    if task_id is not None:
        query = query.where(events.c.task_id == task_id)
    if types:
        query = query.where(events.c.type.in_(types))
    rows = await conn.execute(query.order_by(events.c.id).limit(limit))
    return [EventRecord.from_row(r._mapping) for r in rows]
