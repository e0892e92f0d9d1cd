"""Projects (a repository and its settings) of one organisation: list, create, read, change, delete.

A project's name is checked here; whether its repository may be used by the organisation is the entry
point's question (the API checks it against its allowed roots, ``api/repos.py``) before it calls.
"""

from __future__ import annotations

from typing import Any

from quarterdeck.domain import ids
from quarterdeck.store import projects as project_store
from quarterdeck.store.database import Database
from quarterdeck.store.projects import ProjectRecord
from quarterdeck.store.types import utcnow

__all__ = [
    "ProjectRecord",
    "check_name",
    "create_project",
    "delete_project",
    "read_project",
    "read_projects",
    "read_repo_paths",
    "update_project",
]


def check_name(name: str) -> str:
    """A project's name, or InputError when it is not a safe name."""
    return ids.check_safe_name(name, what="project name")


async def read_projects(db: Database, *, org_id: str, after: str | None = None, limit: int = 50) -> list[ProjectRecord]:
    """The organisation's projects by id, after the id ``after``."""
    async with db.read() as conn:
        return await project_store.read_projects(conn, org_id=org_id, after=after, limit=limit)


async def read_repo_paths(db: Database) -> list[tuple[str, str]]:
    """(organisation, repository path) of every project of every organisation: who owns which repository."""
    async with db.read() as conn:
        return await project_store.read_repo_paths(conn)


async def read_project(db: Database, project_id: str, *, org_id: str) -> ProjectRecord:
    """The organisation's project, or NotFound."""
    async with db.read() as conn:
        return await project_store.read_project(conn, project_id, org_id=org_id)


async def create_project(
    db: Database, *, org_id: str, name: str, repo_path: str, settings: dict[str, Any]
) -> ProjectRecord:
    """A new project (Conflict when the organisation has one of that name already)."""
    check_name(name)
    async with db.transaction() as conn:
        return await project_store.create_project(
            conn, org_id=org_id, name=name, repo_path=repo_path, settings=settings, now=utcnow()
        )


async def update_project(db: Database, project_id: str, *, org_id: str, **values: object) -> ProjectRecord:
    """Change the project's ``name``, ``repo_path`` or ``settings``; NotFound, or Conflict on a taken name."""
    if "name" in values:
        check_name(str(values["name"]))
    async with db.transaction() as conn:
        return await project_store.update_project(conn, project_id, org_id=org_id, now=utcnow(), **values)


async def delete_project(db: Database, project_id: str, *, org_id: str) -> None:
    """Delete the project; its runs stay (no longer in it). NotFound for one the organisation has not."""
    async with db.transaction() as conn:
        await project_store.delete_project(conn, project_id, org_id=org_id)
