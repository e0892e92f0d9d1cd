"""Human gates: list approvals, approve or reject one (the decision takes effect at once)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Member, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import approvals

__all__ = ["router"]

router = v1_router("approvals")


@router.get("/approvals")
async def list_approvals(
    principal: Viewer,
    svc: Svc,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = "pending",
    run_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> schemas.Page[schemas.ApprovalPublic]:
    """The organisation's approvals (pending by default), oldest first."""
    skip = decode_cursor(cursor, int)[0] if cursor else 0
    page = await approvals.read_approval_page(
        svc.db, org_id=principal.org_id, status=status, run_id=run_id, skip=skip, limit=limit
    )
    runs, names = page.runs, page.names
    items = [convert.approval(a, run_name=runs.get(a.run_id or "", (None, ""))[0], names=names) for a in page.approvals]
    return schemas.Page[schemas.ApprovalPublic](
        items=items, next_cursor=encode_cursor(skip + limit) if page.more else None
    )


@router.put("/approvals/{approval_id}/plan")
async def edit_plan(approval_id: str, body: schemas.PlanEdit, principal: Member, svc: Svc) -> schemas.ApprovalPublic:
    """Edit the plan a pending plan approval asks about, before anything runs (a 422 names each problem)."""
    edited = await svc.quarterdeck.edit_plan(approval_id, body.plan, by=principal.actor, org_id=principal.org_id)
    return convert.approval(edited)


@router.post("/approvals/{approval_id}/approve")
async def approve(
    approval_id: str, principal: Member, svc: Svc, body: schemas.Decision | None = None
) -> schemas.ApprovalPublic:
    """Approve: a plan starts running, a re-plan applies, a merge lands, a budget rises."""
    decided = await svc.quarterdeck.decide(
        approval_id, approve=True, by=principal.actor, reason=body.reason if body else None, org_id=principal.org_id
    )
    return convert.approval(decided)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: str, principal: Member, svc: Svc, body: schemas.Decision | None = None
) -> schemas.ApprovalPublic:
    """Reject: a plan's run is cancelled, a re-plan dropped, a merge failed, a budget left as it is."""
    decided = await svc.quarterdeck.decide(
        approval_id, approve=False, by=principal.actor, reason=body.reason if body else None, org_id=principal.org_id
    )
    return convert.approval(decided)
