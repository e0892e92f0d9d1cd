"""Projects: a repository and its settings; everyone in the organisation reads them, admins change them."""

from __future__ import annotations

from fastapi import Response, status

from quarterdeck.api import convert, repos, schemas
from quarterdeck.api.auth import Admin, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.domain import ids
from quarterdeck.store import projects as project_store
from quarterdeck.store.types import utcnow

__all__ = ["router"]

router = v1_router("projects")


@router.get("/projects")
async def list_projects(
    principal: Viewer, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.ProjectPublic]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    async with svc.db.read() as conn:
        found = await project_store.read_projects(conn, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.ProjectPublic](
        items=[convert.project(p) for p in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(body: schemas.ProjectCreate, principal: Admin, svc: Svc) -> schemas.ProjectPublic:
    ids.check_safe_name(body.name, what="project name")
    await repos.check_project_path(svc, principal.org_id, body.repo_path)
    async with svc.db.transaction() as conn:
        record = await project_store.create_project(
            conn,
            org_id=principal.org_id,
            name=body.name,
            repo_path=body.repo_path,
            settings=body.settings,
            now=utcnow(),
        )
    return convert.project(record)


@router.get("/projects/{project_id}")
async def read_project(project_id: str, principal: Viewer, svc: Svc) -> schemas.ProjectPublic:
    async with svc.db.read() as conn:
        return convert.project(await project_store.read_project(conn, project_id, org_id=principal.org_id))


@router.patch("/projects/{project_id}")
async def update_project(
    project_id: str, body: schemas.ProjectUpdate, principal: Admin, svc: Svc
) -> schemas.ProjectPublic:
    values = body.model_dump(exclude_none=True)
    if "name" in values:
        ids.check_safe_name(values["name"], what="project name")
    if "repo_path" in values:
        await repos.check_project_path(svc, principal.org_id, values["repo_path"])
    async with svc.db.transaction() as conn:
        record = await project_store.update_project(conn, project_id, org_id=principal.org_id, now=utcnow(), **values)
    return convert.project(record)


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: str, principal: Admin, svc: Svc) -> Response:
    """Delete the project; its runs stay."""
    async with svc.db.transaction() as conn:
        await project_store.delete_project(conn, project_id, org_id=principal.org_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
