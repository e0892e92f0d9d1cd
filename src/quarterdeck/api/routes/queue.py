"""The queue: the organisation's ready tasks in claim order, the running ones, and those still waiting."""

from __future__ import annotations

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.app import TaskRecord, runs

__all__ = ["router"]

router = v1_router("queue")


@router.get("/queue")
async def read_queue(principal: Viewer, svc: Svc) -> schemas.QueuePublic:
    """Ready (in the order workers claim them), running and waiting tasks, up to 200 of each.

    Each task names its run and the run's status; a ready task of a paused run (or one waiting for a decision
    other than a merge) is not waiting for a worker (none may claim it): it is listed as waiting, after the others."""
    queue = await runs.read_queue(svc.quarterdeck, org_id=principal.org_id)

    def shown(task: TaskRecord) -> schemas.QueueTask:
        name, status = queue.runs.get(task.run_id, (task.run_id, ""))
        return convert.queue_task(task, run_name=name, run_status=status, waits=queue.waits.get((task.run_id, task.id)))

    return schemas.QueuePublic(
        ready=[shown(t) for t in queue.ready],
        running=[shown(t) for t in queue.running],
        waiting=[shown(t) for t in queue.waiting],
    )
