"""Forge repository: the pull requests and issues of runs (``forge_links``) and the webhook deliveries handled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import NotFound
from quarterdeck.store.tables import events, forge_deliveries, forge_links

__all__ = [
    "LinkRecord",
    "create_delivery",
    "create_link",
    "read_last_event_id",
    "read_link",
    "read_link_by_head",
    "read_link_by_number",
    "read_links",
    "update_delivery",
    "update_link",
]


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: str
    run_id: str
    task_id: str
    kind: str
    forge: str
    repository: str
    number: int
    url: str
    head: str
    state: str
    pending: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> LinkRecord:
        return cls(**{name: row[name] for name in cls.__slots__})


async def create_link(
    conn: AsyncConnection,
    *,
    run_id: str,
    kind: str,
    forge: str,
    repository: str,
    number: int,
    url: str,
    head: str,
    state: str,
    now: datetime,
    task_id: str = "",
) -> LinkRecord:
    """Record a run's pull request or issue; when one is recorded already (a racing process), that one."""
    row = {
        "id": ids.new_id("f"),
        "run_id": run_id,
        "task_id": task_id,
        "kind": kind,
        "forge": forge,
        "repository": repository,
        "number": number,
        "url": url,
        "head": head,
        "state": state,
        "pending": [],
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(forge_links.insert(), [row])
    except exc.IntegrityError:
        found = await read_link(conn, run_id, kind=kind, task_id=task_id)
        assert found is not None
        return found
    return LinkRecord.from_row(row)


async def read_link(conn: AsyncConnection, run_id: str, *, kind: str, task_id: str = "") -> LinkRecord | None:
    row = (
        await conn.execute(
            sa.select(forge_links).where(
                forge_links.c.run_id == run_id, forge_links.c.kind == kind, forge_links.c.task_id == task_id
            )
        )
    ).first()
    return None if row is None else LinkRecord.from_row(row._mapping)


async def read_links(conn: AsyncConnection, run_id: str) -> list[LinkRecord]:
    """A run's pull requests and issue, oldest first."""
    rows = await conn.execute(
        sa.select(forge_links).where(forge_links.c.run_id == run_id).order_by(forge_links.c.created_at)
    )
    return [LinkRecord.from_row(r._mapping) for r in rows]


async def read_link_by_number(
    conn: AsyncConnection, *, forge: str, repository: str, number: int, kind: str = "pull"
) -> LinkRecord:
    """The newest link to pull request (or issue) ``number`` of a repository, or NotFound."""
    row = (
        await conn.execute(
            sa.select(forge_links)
            .where(
                forge_links.c.forge == forge,
                forge_links.c.repository == repository,
                forge_links.c.number == number,
                forge_links.c.kind == kind,
            )
            .order_by(forge_links.c.created_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        raise NotFound(f"no run has {kind} {repository}#{number}")
    return LinkRecord.from_row(row._mapping)


async def read_link_by_head(conn: AsyncConnection, *, forge: str, repository: str, head: str) -> LinkRecord | None:
    """The newest pull request link whose head is branch ``head``, if any."""
    row = (
        await conn.execute(
            sa.select(forge_links)
            .where(
                forge_links.c.forge == forge,
                forge_links.c.repository == repository,
                forge_links.c.head == head,
                forge_links.c.kind == "pull",
            )
            .order_by(forge_links.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else LinkRecord.from_row(row._mapping)


async def update_link(conn: AsyncConnection, link_id: str, *, now: datetime, **values: Any) -> None:
    await conn.execute(forge_links.update().where(forge_links.c.id == link_id).values(updated_at=now, **values))


async def create_delivery(
    conn: AsyncConnection, delivery_id: str, *, project_id: str, event: str, now: datetime
) -> bool:
    """Record a webhook delivery; False when it was recorded before (a redelivery or a replay)."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                forge_deliveries.insert(),
                [{"id": delivery_id, "project_id": project_id, "event": event[:64], "received_at": now}],
            )
    except exc.IntegrityError:
        return False
    return True


async def update_delivery(conn: AsyncConnection, delivery_id: str, outcome: str) -> None:
    await conn.execute(
        forge_deliveries.update().where(forge_deliveries.c.id == delivery_id).values(outcome=outcome[:500])
    )


async def read_last_event_id(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.max(events.c.id)))).scalar() or 0)
