"""Projects: a repository and its settings; everyone in the organisation reads them, admins change them."""

from __future__ import annotations

from fastapi import Response, status

from quarterdeck.api import convert, repos, schemas
from quarterdeck.api.auth import Admin, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import projects

__all__ = ["router"]

router = v1_router("projects")


@router.get("/projects")
async def list_projects(
    principal: Viewer, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.ProjectPublic]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    found = await projects.read_projects(svc.db, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.ProjectPublic](
        items=[convert.project(p) for p in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(body: schemas.ProjectCreate, principal: Admin, svc: Svc) -> schemas.ProjectPublic:
    projects.check_name(body.name)
    await repos.check_project_path(svc, principal.org_id, body.repo_path)
    record = await projects.create_project(
        svc.db, org_id=principal.org_id, name=body.name, repo_path=body.repo_path, settings=body.settings
    )
    return convert.project(record)


@router.get("/projects/{project_id}")
async def read_project(project_id: str, principal: Viewer, svc: Svc) -> schemas.ProjectPublic:
    return convert.project(await projects.read_project(svc.db, project_id, org_id=principal.org_id))


@router.patch("/projects/{project_id}")
async def update_project(
    project_id: str, body: schemas.ProjectUpdate, principal: Admin, svc: Svc
) -> schemas.ProjectPublic:
    values = body.model_dump(exclude_none=True)
    if "name" in values:
        projects.check_name(values["name"])
    if "repo_path" in values:
        await repos.check_project_path(svc, principal.org_id, values["repo_path"])
    record = await projects.update_project(svc.db, project_id, org_id=principal.org_id, **values)
    return convert.project(record)


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(project_id: str, principal: Admin, svc: Svc) -> Response:
    """Delete the project; its runs stay."""
    await projects.delete_project(svc.db, project_id, org_id=principal.org_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
