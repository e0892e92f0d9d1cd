"""A run's audit trail: crew messages, review verdicts, plan versions and human decisions, in time order."""

from __future__ import annotations

from quarterdeck.api import schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.routes.runs import read_run_or_404
from quarterdeck.api.services import Svc
from quarterdeck.crews import audit

__all__ = ["router"]

router = v1_router("audit")


@router.get("/runs/{run_id}/audit")
async def read_audit(run_id: str, principal: Viewer, svc: Svc) -> schemas.Page[schemas.AuditEntryPublic]:
    """Everything the crew and its humans said and decided in the run, oldest first (one page)."""
    await read_run_or_404(svc, principal, run_id)
    entries = await audit.trail(svc.db, run_id)
    return schemas.Page[schemas.AuditEntryPublic](
        items=[
            schemas.AuditEntryPublic(
                at=e.at,
                kind=e.kind,
                sender=e.sender,
                recipient=e.recipient,
                task_id=e.task_id,
                summary=e.summary,
                data=e.data,
            )
            for e in entries
        ],
        next_cursor=None,
    )
