"""Agent files: the contents of an agent's own area (raw streams, session files), stored in bounded chunks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.tables import agent_files

__all__ = ["CHUNK", "delete_agent_files", "read_agent_files", "replace_agent_files"]

#: the most one row holds
CHUNK = 256 * 1024


async def replace_agent_files(
    conn: AsyncConnection, task_pk: int, area: str, files: Mapping[str, bytes], *, now: datetime
) -> None:
    """Store what the area ``area`` of the task holds now, in place of what was stored of it before."""
    await conn.execute(agent_files.delete().where(agent_files.c.task_pk == task_pk, agent_files.c.area == area))
    rows = [
        {"task_pk": task_pk, "area": area, "path": path, "seq": n, "data": data[at : at + CHUNK], "created_at": now}
        for path, data in files.items()
        for n, at in enumerate(range(0, max(len(data), 1), CHUNK))
    ]
    if rows:
        await conn.execute(agent_files.insert(), rows)


async def read_agent_files(conn: AsyncConnection, task_pk: int) -> dict[str, dict[str, bytes]]:
    """Every stored area of the task: its files, by path relative to the area."""
    rows = await conn.execute(
        sa.select(agent_files.c.area, agent_files.c.path, agent_files.c.data)
        .where(agent_files.c.task_pk == task_pk)
        .order_by(agent_files.c.area, agent_files.c.path, agent_files.c.seq)
    )
    found: dict[str, dict[str, bytearray]] = {}
    for area, path, data in rows:
        found.setdefault(area, {}).setdefault(path, bytearray()).extend(data)
    return {area: {path: bytes(data) for path, data in files.items()} for area, files in found.items()}


async def delete_agent_files(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget what was stored before ``before`` (retention); how many chunks were removed."""
    result = await conn.execute(agent_files.delete().where(agent_files.c.created_at < before))
    return result.rowcount or 0
