"""The application facade: the one object the CLI (and later the API) talks to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from quarterdeck.bus import EventBus, attach, open_bus
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.engine import control, submit
from quarterdeck.engine.worker import Worker
from quarterdeck.errors import StoreError
from quarterdeck.runtimes.registry import Registry, default_registry
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import AttemptRecord, EventRecord, RunRecord, TaskRecord

__all__ = ["Quarterdeck", "RunView"]

#: how long ``run_until_done`` keeps watching through a database outage
_WATCH_PATIENCE_S = 120.0


@dataclass(frozen=True, slots=True)
class RunView:
    """A run with its tasks, as the CLI and API show it."""

    run: RunRecord
    tasks: tuple[TaskRecord, ...]


class Quarterdeck:
    """Wires settings, the database and the runtime registry; ``async with`` opens and migrates."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None, migrate: bool = True) -> None:
        self.settings = settings
        self.registry = registry or default_registry()
        self.db = Database(settings.resolved_database_url())
        #: the shared live feed's bus, when ``QUARTERDECK_REDIS_URL`` makes one cross processes: every commit
        #: of this process is published on it (in-process buses are opened by whoever subscribes)
        self.bus: EventBus | None = None
        self._migrate = migrate

    async def __aenter__(self) -> Self:
        if self._migrate:
            await self.db.upgrade()
        if self.settings.redis_url:
            self.bus = open_bus(self.settings)
            attach(self.db, self.bus)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bus is not None:
            await self.bus.close()
        await self.db.dispose()

    async def submit(
        self,
        plan: plans.Plan,
        *,
        repo: Path,
        base: str = "HEAD",
        branch: str | None = None,
        budget_usd: float | None = None,
        merge_strategy: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
        goal: str | None = None,
    ) -> RunRecord:
        """Validate a plan and create its run (tasks without dependencies are ready at once).

        The run belongs to ``org_id``, by default the settings' organisation (``QUARTERDECK_ORG``)."""
        return await submit.submit_plan(
            self.db,
            self.registry,
            plan,
            repo=repo,
            base=base,
            branch=branch,
            budget_usd=budget_usd,
            merge_strategy=merge_strategy,
            org_id=org_id or self.settings.org,
            project_id=project_id,
            goal=goal,
        )

    async def add_budget(self, run_id: str, amount_usd: float) -> float:
        """Raise a run's budget; returns the new limit."""
        return await control.add_budget(self.db, run_id, amount_usd)

    def worker(self, *, slots: int = 1, run_id: str | None = None) -> Worker:
        return Worker(self.db, self.settings, self.registry, slots=slots, run_id=run_id)

    async def run_until_done(
        self,
        run_id: str,
        *,
        worker: Worker | None,
        on_tick: Callable[[RunView], Awaitable[None]] | None = None,
        tick_s: float = 0.2,
    ) -> RunView:
        """Serve the run with ``worker`` (None: leave it to other workers) until it ends or the worker stops.

        Each tick reads only the run's status; the whole view is read for ``on_tick`` and at the end.
        """
        serving = asyncio.create_task(worker.serve()) if worker is not None else None
        try:
            outage_since: float | None = None
            while True:
                try:
                    if on_tick is not None:
                        await on_tick(await self.view(run_id))
                    async with self.db.read() as conn:
                        run = await run_store.read_run(conn, run_id)
                    outage_since = None
                except StoreError:
                    # Workers ride out a database outage; so does the watcher, for a while.
                    now = asyncio.get_running_loop().time()
                    outage_since = outage_since or now
                    if now - outage_since > _WATCH_PATIENCE_S:
                        raise
                    await asyncio.sleep(tick_s)
                    continue
                if run.status.terminal or run.status is RunStatus.BUDGET_EXHAUSTED:
                    break
                if serving is not None and serving.done():
                    serving.result()  # surface a crashed worker loop
                    break
                await asyncio.sleep(tick_s)
        finally:
            if worker is not None and serving is not None:
                worker.should_exit = True
                worker.wake()
                await serving
        return await self.view(run_id)

    async def cancel_task(self, run_id: str, task_id: str) -> list[str]:
        """Cancel a task; returns the dependants it blocked."""
        return await control.cancel_task(self.db, run_id, task_id)

    async def cancel_run(self, run_id: str) -> list[str]:
        return await control.cancel_run(self.db, run_id)

    async def pause_run(self, run_id: str) -> None:
        await control.pause_run(self.db, run_id)

    async def unpause_run(self, run_id: str) -> bool:
        return await control.unpause_run(self.db, run_id)

    async def prioritize_task(self, run_id: str, task_id: str, priority: int) -> None:
        await control.prioritize_task(self.db, run_id, task_id, priority)

    async def requeue_task(self, run_id: str, task_id: str) -> list[str]:
        """Give a failed or cancelled task fresh attempts; returns the dependants that wait again."""
        return await control.requeue_task(self.db, run_id, task_id)

    async def find_run_of_task(self, task_id: str) -> str:
        """The newest run that has a task called ``task_id``."""
        async with self.db.read() as conn:
            return await task_store.read_newest_run_of_task(conn, task_id)

    async def view(self, run_id: str) -> RunView:
        async with self.db.read() as conn:
            run = await run_store.read_run(conn, run_id)
            tasks = await task_store.read_tasks(conn, run_id)
        return RunView(run=run, tasks=tuple(tasks))

    async def runs(self, *, limit: int = 20) -> list[RunRecord]:
        async with self.db.read() as conn:
            return await run_store.read_runs(conn, limit=limit)

    async def attempts(self, task: TaskRecord) -> list[AttemptRecord]:
        async with self.db.read() as conn:
            return await task_store.read_attempts(conn, task.pk)

    async def events(self, run_id: str, *, after_id: int = 0, limit: int = 1000) -> list[EventRecord]:
        async with self.db.read() as conn:
            return await event_store.read_events(conn, run_id, after_id=after_id, limit=limit)
