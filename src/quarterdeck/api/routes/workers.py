"""The fleet: every worker process, what it offers, and whether it is live (admins only: hosts of the server)."""

from __future__ import annotations

from quarterdeck.api import schemas
from quarterdeck.api.auth import Admin
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc

__all__ = ["router"]

router = v1_router("workers")


@router.get("/workers")
async def list_workers(principal: Admin, svc: Svc, all: bool = False) -> schemas.Page[schemas.WorkerPublic]:
    """Live workers (``all``: also those stopped or silent), live ones first."""
    fleet = await svc.quarterdeck.workers(gone=all)
    return schemas.Page[schemas.WorkerPublic](
        items=[
            schemas.WorkerPublic(
                id=w.worker.id,
                hostname=w.worker.hostname,
                pid=w.worker.pid,
                live=w.live,
                slots=w.worker.slots,
                running=w.worker.running,
                labels=list(w.worker.labels),
                runtimes=list(w.worker.runtimes),
                unreachable=list(w.worker.unreachable),
                started_at=w.worker.started_at,
                heartbeat_at=w.worker.heartbeat_at,
                stopped_at=w.worker.stopped_at,
            )
            for w in fleet
        ],
        next_cursor=None,
    )
