"""Goals: a crew's manager plans the goal into a run that waits in the approvals inbox (or runs at once)."""

from __future__ import annotations

from pathlib import Path

from fastapi import status

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Member
from quarterdeck.api.routes import v1_router
from quarterdeck.api.routes.runs import read_run_or_404
from quarterdeck.api.services import Svc
from quarterdeck.crews import goals, manager
from quarterdeck.crews.config import load_crew_config
from quarterdeck.crews.models import Asker
from quarterdeck.errors import InputError, WorkspaceError
from quarterdeck.store import projects as project_store
from quarterdeck.workspaces import git, worktrees

__all__ = ["router"]

router = v1_router("goals")


@router.post("/goals", status_code=status.HTTP_201_CREATED)
async def create_goal(body: schemas.GoalCreate, principal: Member, svc: Svc) -> schemas.GoalStarted:
    """Plan the goal with the repository's crew (``.quarterdeck/crew.toml``) and create its run.

    The manager's model is asked while the request waits. With ``approve`` (the default) the run is
    paused until its plan is approved (``POST /approvals/{id}/approve``); a manager that cannot give
    a valid plan is a 422 naming the problems.
    """
    repo = body.repo
    if body.project_id is not None:
        async with svc.db.read() as conn:
            project = await project_store.read_project(conn, body.project_id, org_id=principal.org_id)
        repo = repo or project.repo_path
    if repo is None:
        raise InputError("repo is required (the git repository on the server), or a project_id that has one")
    try:  # a repository that cannot take a run is refused before the manager's model is paid for
        top = await git.open_repository(Path(repo))
        await worktrees.resolve_commit(top, body.base)
    except WorkspaceError as exc:
        raise InputError(exc.message) from None
    crew = load_crew_config(top)
    asker = Asker(crew.manager)
    planned = await manager.plan_goal(body.goal, crew, asker)
    started = await goals.start_run(
        svc.db,
        svc.quarterdeck.registry,
        body.goal,
        planned,
        crew,
        asker,
        repo=top,
        approve=body.approve,
        org_id=principal.org_id,
        budget_usd=body.budget_usd,
        base=body.base,
        branch=body.branch,
    )
    run = await read_run_or_404(svc, principal, started.run.id)
    return schemas.GoalStarted(run=run, approval=convert.approval(started.approval) if started.approval else None)
