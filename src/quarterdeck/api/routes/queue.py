"""The queue: the organisation's ready tasks in claim order, the running ones, and those still waiting."""

from __future__ import annotations

from quarterdeck.api import convert, schemas
from quarterdeck.api.auth import Viewer
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.store import listings
from quarterdeck.store.records import TaskRecord

__all__ = ["router"]

router = v1_router("queue")


@router.get("/queue")
async def read_queue(principal: Viewer, svc: Svc) -> schemas.QueuePublic:
    """Ready (in the order workers claim them), running and waiting tasks, up to 200 of each.

    Each task names its run and the run's status; a ready task of a paused run (or one waiting for a decision
    other than a merge) is not waiting for a worker (none may claim it): it is listed as waiting, after the others."""
    async with svc.db.read() as conn:
        queue = await listings.read_queue(conn, org_id=principal.org_id)
        run_ids = {t.run_id for lane in queue.values() for t in lane}
        labels = await listings.read_run_labels(conn, sorted(run_ids))
        holding = await listings.read_held_runs(conn, sorted({t.run_id for t in queue["ready"]}))
    waits: dict[tuple[str, str], str] = {}
    for run_id in sorted({t.run_id for t in queue["ready"]}):
        waits |= {(run_id, task_id): why for task_id, why in (await svc.quarterdeck.waiting(run_id)).items()}

    def shown(task: TaskRecord) -> schemas.QueueTask:
        name, status = labels.get(task.run_id, (task.run_id, ""))
        return convert.queue_task(task, run_name=name, run_status=status, waits=waits.get((task.run_id, task.id)))

    held = [t for t in queue["ready"] if t.run_id in holding]
    return schemas.QueuePublic(
        ready=[shown(t) for t in queue["ready"] if t not in held],
        running=[shown(t) for t in queue["running"]],
        waiting=[shown(t) for t in (*queue["pending"], *held)],
    )
