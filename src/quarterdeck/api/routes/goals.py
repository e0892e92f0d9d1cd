"""Goals: a crew's manager plans the goal into a run that waits in the approvals inbox (or runs at once)."""

from __future__ import annotations

from fastapi import status

from quarterdeck.api import repos, schemas
from quarterdeck.api.auth import Member
from quarterdeck.api.routes import v1_router
from quarterdeck.api.routes.runs import read_run_or_404
from quarterdeck.api.services import Svc
from quarterdeck.app import repository

__all__ = ["router"]

router = v1_router("goals")


@router.post("/goals", status_code=status.HTTP_202_ACCEPTED)
async def create_goal(body: schemas.GoalCreate, principal: Member, svc: Svc) -> schemas.GoalStarted:
    """Give the repository's crew (``.quarterdeck/crew.toml``) a goal: its run answers at once, ``planning``.

    The manager plans it in whichever process runs workers; the plan arrives by events (``plan.proposed``,
    then ``run.waiting`` with an ``approval.requested`` when ``approve``, the default, or ``plan.applied``).
    A repository, crew config or key that cannot work is a 4xx now, before any model is asked.
    """
    repo = await repos.run_repository(svc, principal.org_id, body.repo, body.project_id)
    run = await svc.quarterdeck.start_goal(
        body.goal,
        repo=repository(repo),
        approve=body.approve,
        actor=principal.actor,
        org_id=principal.org_id,
        budget_usd=body.budget_usd,
        base=body.base,
        branch=body.branch,
        project_id=body.project_id,
    )
    return schemas.GoalStarted(run=await read_run_or_404(svc, principal, run.id), approval=None)
