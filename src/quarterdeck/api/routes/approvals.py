"""Human gates: list approvals, approve or reject one (the decision takes effect at once)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Member, Viewer
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.crews import gates
from quarterdeck.store import crews as crew_store
from quarterdeck.store import identity, listings

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
    async with svc.db.read() as conn:
        if run_id is not None:
            await listings.read_run(conn, run_id, org_id=principal.org_id)
        found = await crew_store.read_approvals(conn, org_id=principal.org_id, run_id=run_id, status=status)
        page = found[skip : skip + limit]
        runs = await listings.read_run_labels(conn, sorted({a.run_id for a in page if a.run_id}))
        people = {a.requested_by for a in page} | {a.decided_by for a in page if a.decided_by}
        names = {
            u.id: u.name
            for u in await identity.read_users(conn, org_id=principal.org_id, limit=10_000)
            if u.id in people
        }
    more = len(found) > skip + limit
    items = [convert.approval(a, run_name=runs.get(a.run_id or "", (None, ""))[0], names=names) for a in page]
    return schemas.Page[schemas.ApprovalPublic](items=items, next_cursor=encode_cursor(skip + limit) if more else None)


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
    decided = await gates.decide(
        svc.db,
        org_id=principal.org_id,
        approval_id=approval_id,
        approve=True,
        by=principal.actor,
        reason=body.reason if body else None,
    )
    return convert.approval(decided)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: str, principal: Member, svc: Svc, body: schemas.Decision | None = None
) -> schemas.ApprovalPublic:
    """Reject: a plan's run is cancelled, a re-plan dropped, a merge failed, a budget left as it is."""
    decided = await gates.decide(
        svc.db,
        org_id=principal.org_id,
        approval_id=approval_id,
        approve=False,
        by=principal.actor,
        reason=body.reason if body else None,
    )
    return convert.approval(decided)
