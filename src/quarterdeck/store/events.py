"""Event repository: the append-only log of everything that happened in a run."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import events as events_domain
from quarterdeck.security.redaction import redact
from quarterdeck.store import compiled
from quarterdeck.store.records import EventRecord
from quarterdeck.store.tables import events
from quarterdeck.store.types import utcnow

__all__ = [
    "APPEND",
    "COMMITTED_EVENTS",
    "NewEvent",
    "appended",
    "create_events",
    "read_event_log",
    "read_events",
    "read_last_event_id",
]

#: key in ``conn.info`` of the list that collects a transaction's new events for commit listeners
#: (set by ``Database.transaction`` only while a listener is registered)
COMMITTED_EVENTS = "quarterdeck.committed_events"


#: what each event gives; ``created_at`` is the same for all the events of one call
_ROW_COLUMNS = ("run_id", "task_id", "attempt_id", "type", "payload")
_COLUMNS = (*_ROW_COLUMNS, "created_at")
#: compiled once and run through the driver (hot: every outcome appends events)
_INSERT_ONE_RETURNING = compiled.Compiled(
    events.insert()
    .values({name: sa.bindparam(name, type_=events.c[name].type) for name in _COLUMNS})
    .returning(events.c.id)
)
#: many rows at once: one execution on PostgreSQL (where ``executemany`` executes once per row)
_INSERT_MANY = compiled.RowsInsert(events, _ROW_COLUMNS, shared=("created_at",))
#: several rows with their ids in order: through SQLAlchemy's insertmanyvalues
_INSERT_RETURNING = events.insert().returning(events.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append."""

    run_id: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    attempt_id: str | None = None

    def __post_init__(self) -> None:
        # one definition of each type's payload (``domain/events.py``): a key it does not declare is a bug here
        if extra := events_domain.undeclared(self.type, self.payload):
            raise ValueError(
                f"a {self.type} event's payload has keys its type does not declare: {', '.join(extra)} "
                "(declare them in quarterdeck/domain/events.py SPECS)"
            )


def _values(new: Sequence[NewEvent], now: datetime) -> list[dict[str, Any]]:
    """The rows of ``new``, payloads redacted (``security/redaction.py``): no secret reaches the log or the feed."""
    return [
        {
            "run_id": e.run_id,
            "task_id": e.task_id,
            "attempt_id": e.attempt_id,
            "type": e.type,
            "payload": redact(e.payload),
            "created_at": now,
        }
        for e in new
    ]


#: PostgreSQL: appending events as a data-modifying CTE of another statement (``tasks.claim_tasks``),
#: parameters from ``appended``
APPEND = _INSERT_MANY.unnested


def appended(conn: AsyncConnection, new: Sequence[NewEvent]) -> dict[str, Any] | None:
    """The parameters with which another statement holding ``APPEND`` appends ``new``, in order; None when it
    cannot: the transaction collects its events for commit listeners (their ids are needed)."""
    if conn.info.get(COMMITTED_EVENTS) is not None:
        return None
    now = utcnow()
    return {**_INSERT_MANY.arrays(_values(new, now)), "created_at": now}


async def create_events(conn: AsyncConnection, new: Sequence[NewEvent]) -> None:
    """Append events in order; when the transaction collects them for commit listeners, with their ids.

    Payloads are recorded redacted (``security/redaction.py``): no secret reaches the log or the feed.
    """
    if not new:
        return
    now = utcnow()
    values = _values(new, now)
    collected: list[EventRecord] | None = conn.info.get(COMMITTED_EVENTS)
    if collected is None:
        await _INSERT_MANY.run(conn, values, {"created_at": now})
        return
    if len(values) == 1:
        ((event_id,),) = await compiled.fetch(conn, _INSERT_ONE_RETURNING, values[0])
        collected.append(EventRecord(id=event_id, **values[0]))
        return
    rows = await conn.execute(_INSERT_RETURNING, values)
    collected.extend(EventRecord(id=row.id, **value) for row, value in zip(rows, values, strict=True))


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


async def read_event_log(
    conn: AsyncConnection,
    *,
    after_id: int,
    until_id: int | None = None,
    run_ids: Collection[str] | None = None,
    task_id: str | None = None,
    types: Collection[str] = (),
    ids: Collection[int] | None = None,
    limit: int = 1000,
) -> list[EventRecord]:
    """Events of any run (``run_ids=None``) or of some, with ``after_id < id <= until_id``, oldest first."""
    query = sa.select(events).where(events.c.id > after_id)
    if ids is not None:
        query = query.where(events.c.id.in_(ids))
    if until_id is not None:
        query = query.where(events.c.id <= until_id)
    if run_ids is not None:
        query = query.where(events.c.run_id.in_(run_ids))
    if task_id is not None:
        query = query.where(events.c.task_id == task_id)
    if types:
        query = query.where(events.c.type.in_(types))
    rows = await conn.execute(query.order_by(events.c.id).limit(limit))
    return [EventRecord.from_row(r._mapping) for r in rows]


async def read_last_event_id(conn: AsyncConnection) -> int:
    """The highest event id so far (0 for an empty log)."""
    return int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))) or 0)
