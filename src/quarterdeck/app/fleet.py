"""The fleet: the workers heard from lately, and why a run's ready tasks no live worker can take wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from quarterdeck.app.parts import Parts
from quarterdeck.store import tasks as task_store
from quarterdeck.store import workers as worker_store
from quarterdeck.store.types import utcnow

__all__ = ["Fleet", "FleetWorker"]


@dataclass(frozen=True, slots=True)
class FleetWorker:
    """A worker of the fleet as ``quarterdeck workers`` and ``/api/v1/workers`` show it."""

    worker: worker_store.WorkerRecord
    #: heard from within three heartbeats and not stopped
    live: bool


#: a worker silent for this many of its heartbeats is shown as gone
_SILENT_BEATS = 3


class Fleet(Parts):
    async def workers(self, *, gone: bool = False) -> list[FleetWorker]:
        """The fleet: every worker heard from lately (``gone``: also those stopped or silent), live ones first."""
        from quarterdeck.engine.worker import WORKER_BEAT_S

        now = utcnow()
        async with self.db.read() as conn:
            found = await worker_store.read_workers(conn, since=None if gone else now - timedelta(hours=1))
        shown = [FleetWorker(w, w.live(now, _SILENT_BEATS * WORKER_BEAT_S)) for w in found]
        return sorted((w for w in shown if gone or w.live), key=lambda w: not w.live)

    async def waiting(self, run_id: str) -> dict[str, str]:
        """Why ready tasks of the run wait: those requiring what no live worker offers, each with the reason."""
        async with self.db.read() as conn:
            required = await worker_store.read_requirements(conn, run_id)
            if not required:
                return {}
            ready = {t.id for t in await task_store.read_tasks(conn, run_id) if t.status.value == "ready"}
        fleet = [w.worker for w in await self.workers()]
        reasons: dict[str, str] = {}
        for task_id, needs in required.items():
            if task_id not in ready or any(set(needs) <= w.offers for w in fleet):
                continue
            if not fleet:
                reasons[task_id] = f"requires {', '.join(needs)}: no worker is live"
                continue
            closest = min(fleet, key=lambda w: len(set(needs) - w.offers))
            missing = sorted(set(needs) - closest.offers)
            reasons[task_id] = (
                f"requires {', '.join(needs)}: no live worker offers all of it "
                f"(the closest, {closest.id}, lacks {', '.join(missing)})"
            )
        return reasons
