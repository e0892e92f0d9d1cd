"""The queue: the organisation's ready tasks in claim order, the running ones, and those still waiting."""

from __future__ import annotations

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.store import listings

__all__ = ["router"]

router = v1_router("queue")


@router.get("/queue")
async def read_queue(principal: Viewer, svc: Svc) -> schemas.QueuePublic:
    """Ready (in the order workers claim them), running and waiting tasks, up to 200 of each."""
    async with svc.db.read() as conn:
        queue = await listings.read_queue(conn, org_id=principal.org_id)
    return schemas.QueuePublic(
        ready=[convert.queue_task(t) for t in queue["ready"]],
        running=[convert.queue_task(t) for t in queue["running"]],
        waiting=[convert.queue_task(t) for t in queue["pending"]],
    )
