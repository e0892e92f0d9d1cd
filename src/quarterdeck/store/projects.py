"""Project repository: a repository and its settings, belonging to one organisation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import Conflict, NotFound
from quarterdeck.store.tables import projects, runs

__all__ = [
    "ProjectRecord",
    "create_project",
    "delete_project",
    "read_project",
    "read_projects",
    "read_repo_paths",
    "update_project",
]


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: str
    org_id: str
    name: str
    repo_path: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ProjectRecord:
        return cls(**{name: row[name] for name in cls.__slots__})


async def create_project(
    conn: AsyncConnection, *, org_id: str, name: str, repo_path: str, settings: dict[str, Any], now: datetime
) -> ProjectRecord:
    row = {
        "id": ids.new_id("p"),
        "org_id": org_id,
        "name": name,
        "repo_path": repo_path,
        "settings": settings,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(projects.insert(), [row])
    except exc.IntegrityError:
        raise Conflict(f"a project called {name!r} already exists") from None
    return ProjectRecord.from_row(row)


async def read_project(conn: AsyncConnection, project_id: str, *, org_id: str) -> ProjectRecord:
    """The project, or NotFound (also for another organisation's)."""
    row = (
        await conn.execute(sa.select(projects).where(projects.c.id == project_id, projects.c.org_id == org_id))
    ).first()
    if row is None:
        raise NotFound(f"no project {project_id!r}")
    return ProjectRecord.from_row(row._mapping)


async def read_projects(
    conn: AsyncConnection, *, org_id: str, after: str | None = None, limit: int = 50
) -> list[ProjectRecord]:
    query = sa.select(projects).where(projects.c.org_id == org_id)
    if after is not None:
        query = query.where(projects.c.id > after)
    rows = await conn.execute(query.order_by(projects.c.id).limit(limit))
    return [ProjectRecord.from_row(r._mapping) for r in rows]


async def read_repo_paths(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(organisation, repository path) of every project of every organisation: who owns which repository."""
    rows = await conn.execute(sa.select(projects.c.org_id, projects.c.repo_path))
    return [(org, path) for org, path in rows]


async def update_project(
    conn: AsyncConnection, project_id: str, *, org_id: str, now: datetime, **values: object
) -> ProjectRecord:
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                projects.update()
                .where(projects.c.id == project_id, projects.c.org_id == org_id)
                .values(updated_at=now, **values)
            )
    except exc.IntegrityError:
        raise Conflict(f"a project called {values.get('name')!r} already exists") from None
    if result.rowcount != 1:
        raise NotFound(f"no project {project_id!r}")
    return await read_project(conn, project_id, org_id=org_id)


async def delete_project(conn: AsyncConnection, project_id: str, *, org_id: str) -> None:
    """Delete a project; its runs stay (their ``project_id`` is cleared)."""
    await read_project(conn, project_id, org_id=org_id)
    await conn.execute(runs.update().where(runs.c.project_id == project_id).values(project_id=None))
    await conn.execute(projects.delete().where(projects.c.id == project_id, projects.c.org_id == org_id))
