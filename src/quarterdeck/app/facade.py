"""The application facade: the one object the CLI, the API, the dashboard and the MCP server talk to.

``Quarterdeck`` is the composition root: it sets up the parts (settings, database, runtimes, the bus) and
gives the engine its ports (``worker()``: the crews' supervisor and reviewer); its use cases live beside it,
each named for what it acts on (``submission``, ``approvals``, ``steering``, ``runs``, ``fleet``,
``notifications``, ``memories``). Only the store is imported with it: the engine, the event bus and the
runtimes load when first used, so a command that only reads (``quarterdeck status``) starts quickly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.app.approvals import Approvals
from quarterdeck.app.fleet import Fleet, FleetWorker
from quarterdeck.app.memories import Memories
from quarterdeck.app.notifications import Notifications
from quarterdeck.app.overview import RunView
from quarterdeck.app.runs import RunReads
from quarterdeck.app.steering import Steering
from quarterdeck.app.submission import Submission
from quarterdeck.domain import statuses
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import StoreError
from quarterdeck.observability import tracing
from quarterdeck.security import redaction
from quarterdeck.settings import Settings
from quarterdeck.store import runs as run_store
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow

if TYPE_CHECKING:
    from quarterdeck.bus import EventBus
    from quarterdeck.engine.worker import Worker
    from quarterdeck.forges.follower import PullRequestFollower
    from quarterdeck.runtimes.registry import Registry
    from quarterdeck.security.keyring import KeySettings

__all__ = ["ApprovalRecord", "FleetWorker", "Quarterdeck", "RunView", "is_repository_url", "repository"]

_log = logging.getLogger(__name__)

#: the longest pause between two looks at a run while the database is away
_AWAY_POLL_MAX_S = 2.0


class Quarterdeck(Submission, Approvals, Steering, RunReads, Fleet, Notifications, Memories):
    """Wires settings, the database and the runtime registry; ``async with`` opens and migrates."""

    def __init__(self, settings: Settings, *, registry: Registry | None = None, migrate: bool = True) -> None:
        self.settings = settings
        redaction.install_log_redaction()  # what this process logs hides every secret it opens
        tracing.configure(settings)  # (off unless an OTLP endpoint is set: then once per process)
        self._registry = registry
        self.db = Database(settings.resolved_database_url())
        #: the shared live feed's bus, when ``QUARTERDECK_REDIS_URL`` makes one cross processes: every commit
        #: of this process is published on it (in-process buses are opened by whoever subscribes)
        self.bus: EventBus | None = None
        self._migrate = migrate

    async def __aenter__(self) -> Self:
        if self._migrate:
            await self.db.upgrade()
        if self.settings.redis_url:
            from quarterdeck.bus import attach, open_bus

            self.bus = open_bus(self.settings)
            attach(self.db, self.bus)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bus is not None:
            await self.bus.close()
        await self.db.dispose()

    def worker(self, *, slots: int = 1, run_id: str | None = None, keys: KeySettings | None = None) -> Worker:
        """A worker; ``keys`` open the organisations' secrets (default: ``QUARTERDECK_SECRET_KEY(S)``, the key file)."""
        from quarterdeck.crews.review import review_attempt
        from quarterdeck.crews.supervisor import Supervisor
        from quarterdeck.engine.worker import Worker, new_worker_id

        supervisor = Supervisor(self.db, self.settings, self.registry, holder=new_worker_id(), run_id=run_id)
        return Worker(
            self.db,
            self.settings,
            self.registry,
            slots=slots,
            run_id=run_id,
            keys=keys,
            supervisor=supervisor,
            reviewer=review_attempt,
        )

    def forge_follower(
        self, *, repo: Path | str | None = None, keys: KeySettings | None = None
    ) -> PullRequestFollower | None:
        """Keeps runs' pull requests on GitHub / GitLab in step with them (``docs/pull-requests.md``):
        ``serve`` runs one; ``run`` too, when its repository (``repo``) has a ``[forge]`` table (else None)."""
        from quarterdeck.forges.config import load_forge_config
        from quarterdeck.forges.follower import PullRequestFollower
        from quarterdeck.forges.tokens import ForgeSecrets
        from quarterdeck.security.keyring import KeySettings
        from quarterdeck.workspaces import remote

        if repo is not None and not remote.is_url(str(repo)) and load_forge_config(Path(repo)) is None:
            return None  # (a repository named by URL is read by the follower, from this machine's cache)
        settings = keys or KeySettings()
        secrets = ForgeSecrets(self.db, lambda: settings.keyring(self.settings.state_dir))  # read when first needed
        return PullRequestFollower(self.db, secrets, cache_root=self.settings.resolved_repo_cache())

    async def run_until_done(
        self,
        run_id: str,
        *,
        worker: Worker | None,
        on_tick: Callable[[RunView], Awaitable[None]] | None = None,
        tick_s: float = 0.2,
    ) -> RunView:
        """Serve the run with ``worker`` (None: leave it to other workers) until it ends, waits for a person's
        decision (``waiting``, once its supervisor asked for one; not for a merge, whose run goes on), or the
        worker stops.

        Each tick reads only the run's status; the whole view is read for ``on_tick`` and at the end.
        """
        serving = asyncio.create_task(worker.serve()) if worker is not None else None
        away: float | None = None  # since when the database has been away (workers ride it out; so does this)
        try:
            while True:
                try:
                    if on_tick is not None:
                        await on_tick(await self.view(run_id))
                    async with self.db.read() as conn:
                        run = await run_store.read_run(conn, run_id)
                        deciding = run.status is RunStatus.WAITING and await _step_due(conn, run_id)
                except StoreError as exc:
                    away = self._away(away, exc)
                    await asyncio.sleep(min(tick_s * 4, _AWAY_POLL_MAX_S))
                    continue
                away = self._away(away, None)
                waits = run.status is RunStatus.WAITING and not statuses.takes_work(run.status, run.waiting_for)
                if run.status.terminal or (waits and not deciding):
                    break  # it ended, or waits for a person (a merge approval stops only its own task: serve on)
                if serving is not None and serving.done():
                    serving.result()  # surface a crashed worker loop
                    break
                await asyncio.sleep(tick_s)
        finally:
            if worker is not None and serving is not None:
                worker.should_exit = True
                worker.wake()
                await serving
        while True:
            try:
                view = await self.view(run_id, failures=True)
            except StoreError as exc:
                away = self._away(away, exc)
                await asyncio.sleep(min(tick_s * 4, _AWAY_POLL_MAX_S))
                continue
            self._away(away, None)
            return view

    @staticmethod
    def _away(since: float | None, error: StoreError | None) -> float | None:
        """Log a database outage once when it begins and once when it ends; since when it has lasted."""
        now = asyncio.get_running_loop().time()
        if error is not None and since is None:
            _log.warning("database away, waiting for it: %s", error)
            return now
        if error is None and since is not None:
            _log.warning("database back after %.1fs", now - since)
            return None
        return since

    async def prune_agent_files(self) -> int:
        """Forget stored agent areas older than ``agent_files_days`` (retention); how many chunks went."""
        from quarterdeck.store import agent_files

        before = utcnow() - timedelta(days=self.settings.agent_files_days)
        async with self.db.transaction() as conn:
            return await agent_files.delete_agent_files(conn, before=before)


def repository(text: str) -> Path | str:
    """A run's repository as a user named it: a git URL (kept a string, checked) or a local path.

    Raises:
        InputError: a URL git may not use (an unknown scheme, whitespace, an option).
    """
    from quarterdeck.workspaces import remote

    return remote.repository(text)


def is_repository_url(text: str) -> bool:
    """Whether ``text`` names a repository by URL (fetched and pushed by workers) rather than by local path."""
    from quarterdeck.workspaces import remote

    return remote.is_url(text)


async def _step_due(conn: AsyncConnection, run_id: str) -> bool:
    """A decision step of the run is still to be taken by a supervisor (before a person is asked)."""
    from quarterdeck.store import supervision

    found = await supervision.read_supervision(conn, run_id)
    return found is not None and found.step is not None
