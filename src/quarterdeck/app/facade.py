"""The application facade: the one object the CLI (and later the API) talks to.

Only the store is imported with it: the engine, the event bus and the runtimes load when first used,
so a command that only reads (``quarterdeck status``) starts quickly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.app import overview
from quarterdeck.app.overview import RunView
from quarterdeck.domain import analytics, plans, statuses
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError, PlanError, Problem, StoreError, WorkspaceError
from quarterdeck.observability import tracing
from quarterdeck.security import redaction
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import secrets as secret_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store import workers as worker_store
from quarterdeck.store.crews import ApprovalRecord
from quarterdeck.store.database import Database
from quarterdeck.store.records import AttemptRecord, EventRecord, RunRecord, TaskRecord
from quarterdeck.store.types import utcnow

if TYPE_CHECKING:
    from quarterdeck.bus import EventBus
    from quarterdeck.crews.config import CrewConfig
    from quarterdeck.engine.talk import Said
    from quarterdeck.engine.worker import Worker
    from quarterdeck.forges.follower import PullRequestFollower
    from quarterdeck.memory.service import GivenMemory
    from quarterdeck.runtimes.registry import Registry
    from quarterdeck.security.keyring import KeySettings
    from quarterdeck.store.memories import FoundMemory, MemoryRecord
    from quarterdeck.store.notifications import NotificationRecord, SubscriptionRecord

__all__ = ["ApprovalRecord", "FleetWorker", "Quarterdeck", "RunView", "is_repository_url", "repository"]

_log = logging.getLogger(__name__)

#: the longest pause between two looks at a run while the database is away
_AWAY_POLL_MAX_S = 2.0


@dataclass(frozen=True, slots=True)
class FleetWorker:
    """A worker of the fleet as ``quarterdeck workers`` and ``/api/v1/workers`` show it."""

    worker: worker_store.WorkerRecord
    #: heard from within three heartbeats and not stopped
    live: bool


#: a worker silent for this many of its heartbeats is shown as gone
_SILENT_BEATS = 3


class Quarterdeck:
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

    @property
    def registry(self) -> Registry:
        """The runtimes (the built-in ones and the entry points'), loaded on first use."""
        if self._registry is None:
            from quarterdeck.runtimes.registry import default_registry

            self._registry = default_registry()
        return self._registry

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

    async def submit(
        self,
        plan: plans.Plan,
        *,
        repo: Path | str,
        base: str = "HEAD",
        branch: str | None = None,
        budget_usd: float | None = None,
        merge_strategy: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
        goal: str | None = None,
        agent: str | None = None,
    ) -> RunRecord:
        """Validate a plan and create its run (tasks without dependencies are ready at once).

        The run belongs to ``org_id``, by default the settings' organisation (``QUARTERDECK_ORG``).
        ``agent`` (else the project's ``[run] agent``) does the tasks that name no runtime."""
        from quarterdeck.engine import submit

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
            agent=agent,
            cache=self.settings.resolved_repo_cache(),
        )

    async def choose(self, plan: plans.Plan, *, repo: Path | str, agent: str | None = None) -> plans.Plan:
        """``plan`` with ``agent`` (else the project's ``[run] agent``) for every task that names no runtime."""
        from quarterdeck.engine import agents, submit

        if all(t.runtime != plans.NO_RUNTIME for t in plan.tasks):
            return plan
        return agents.choose(plan, agent or await submit.project_agent(repo))

    async def check(
        self, plan: plans.Plan, *, repo: Path | str, agent: str | None = None, org_id: str | None = None
    ) -> plans.Plan:
        """What ``submit`` would run, checked as ``quarterdeck plan`` shows it, without creating anything.

        Chooses the agent of tasks that name none (``agent``, else the project's ``[run] agent``), then
        checks every runtime and its options, each agent CLI (installed, new enough, credentials) and
        each provider key (in the environment, the project's ``[workspace] env`` or the organisation's
        secrets). Returns the plan with its agents chosen.

        Raises:
            PlanError: every problem, one ``path:line: message`` each.
        """
        from quarterdeck.engine import agents, submit
        from quarterdeck.runtimes import process

        plan = await self.choose(plan, repo=repo, agent=agent)
        problems: list[Problem] = []
        try:
            submit.check_runtimes(plan, self.registry)
        except PlanError as exc:
            problems.extend(exc.problems)
        env = process.base_env(await _project_env(repo))
        async with self.db.read() as conn:
            names = await secret_store.read_secret_names(conn, org_id=org_id or self.settings.org)
        problems.extend(await agents.readiness(plan, self.registry, env=env, secret_names=names))
        if problems:
            raise PlanError(sorted(problems, key=lambda p: (p.path, p.line)))
        return plan

    async def start_goal(
        self,
        goal: str,
        *,
        repo: Path | str,
        approve: bool,
        actor: str,
        org_id: str | None = None,
        budget_usd: float | None = None,
        base: str = "HEAD",
        branch: str | None = None,
        project_id: str | None = None,
    ) -> RunRecord:
        """Give a crew ``goal``: its run is created ``planning`` at once; the manager plans it in whichever process
        runs workers (``serve``, ``worker``, ``run``, ``goal``), and the plan arrives by events. ``repo``: a local
        path, or a git URL (``repository``) whose crew and config are read at ``base`` through this machine's cache."""
        from quarterdeck.crews import goals

        return await goals.start_goal(
            self.db,
            goal,
            repo=repo,
            approve=approve,
            org_id=org_id or self.settings.org,
            actor=actor,
            budget_usd=budget_usd,
            base=base,
            branch=branch,
            project_id=project_id,
            cache=self.settings.resolved_repo_cache(),
        )

    async def run_crew(self, run: RunRecord) -> CrewConfig:
        """The crew of a goal's run, as its repository holds it (a remote's: at the run's base, from this machine's
        cache of it)."""
        from quarterdeck.crews import sources

        return await sources.run_crew(run, self.settings.resolved_repo_cache())

    async def pending_approvals(self, run_id: str | None = None, *, org_id: str | None = None) -> list[ApprovalRecord]:
        """The approvals waiting for a person (of one run, when given), oldest first."""
        from quarterdeck.crews import gates

        return await gates.pending(self.db, org_id=org_id or self.settings.org, run_id=run_id)

    async def approvals(self, run_id: str | None = None, *, org_id: str | None = None) -> list[ApprovalRecord]:
        """Every approval, pending and decided (of one run, when given), oldest first."""
        from quarterdeck.store import crews as crew_store

        async with self.db.read() as conn:
            return await crew_store.read_approvals(conn, org_id=org_id or self.settings.org, run_id=run_id)

    async def edit_plan(self, approval_id: str, text: str, *, by: str, org_id: str | None = None) -> ApprovalRecord:
        """Replace the plan a pending plan approval asks about by ``text`` (a plan file), before anything runs."""
        from quarterdeck.crews import goals

        return await goals.edit_plan(
            self.db,
            self.registry,
            org_id=org_id or self.settings.org,
            approval_id=approval_id,
            text=text,
            by=by,
            cache=self.settings.resolved_repo_cache(),
        )

    async def decide(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None = None, org_id: str | None = None
    ) -> ApprovalRecord:
        """Approve or reject; the decision is carried out at once (a plan runs, a re-plan applies, a budget rises)."""
        from quarterdeck.crews import gates

        return await gates.decide(
            self.db, org_id=org_id or self.settings.org, approval_id=approval_id, approve=approve, by=by, reason=reason
        )

    async def add_budget(self, run_id: str, amount_usd: float, *, by: str | None = None) -> float:
        """Raise a run's budget; returns the new limit. ``by``: who asked (for the audit trail), as for the
        other steering operations below."""
        from quarterdeck.engine import control

        return await control.add_budget(self.db, run_id, amount_usd, by=by)

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

    async def cancel_task(self, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
        """Cancel a task; returns the dependants it blocked."""
        from quarterdeck.engine import control

        return await control.cancel_task(self.db, run_id, task_id, by=by)

    async def cancel_run(self, run_id: str, *, by: str | None = None) -> list[str]:
        from quarterdeck.engine import control

        return await control.cancel_run(self.db, run_id, by=by)

    async def pause_run(self, run_id: str, *, by: str | None = None) -> None:
        from quarterdeck.engine import control

        await control.pause_run(self.db, run_id, by=by)

    async def unpause_run(self, run_id: str, *, by: str | None = None) -> bool:
        from quarterdeck.engine import control

        return await control.unpause_run(self.db, run_id, by=by)

    async def prioritize_task(self, run_id: str, task_id: str, priority: int, *, by: str | None = None) -> None:
        from quarterdeck.engine import control

        await control.prioritize_task(self.db, run_id, task_id, priority, by=by)

    async def requeue_task(self, run_id: str, task_id: str, *, by: str | None = None) -> list[str]:
        """Give a failed or cancelled task fresh attempts; returns the dependants that wait again."""
        from quarterdeck.engine import control

        return await control.requeue_task(self.db, run_id, task_id, by=by)

    # --- notifications (``notify/``): subscriptions and the outbox -------------------------------------------

    async def subscribe(self, **kwargs: Any) -> SubscriptionRecord:
        """Subscribe a target to notifications (``notify.subscriptions.subscribe``)."""
        from quarterdeck.notify import subscriptions

        return await subscriptions.subscribe(self.db, **kwargs)

    async def subscriptions(self, *, org_id: str, user_id: str | None = None) -> list[SubscriptionRecord]:
        from quarterdeck.notify import subscriptions

        return await subscriptions.subscriptions(self.db, org_id=org_id, user_id=user_id)

    async def unsubscribe(self, subscription_id: str, *, org_id: str, user_id: str | None = None) -> None:
        from quarterdeck.notify import subscriptions

        await subscriptions.unsubscribe(self.db, subscription_id, org_id=org_id, user_id=user_id)

    async def notifications(self, *, org_id: str, **filters: Any) -> list[NotificationRecord]:
        """The outbox, newest first (``notify.subscriptions.notifications``)."""
        from quarterdeck.notify import subscriptions

        return await subscriptions.notifications(self.db, org_id=org_id, **filters)

    # --- agent memory (``memory/service.py``, docs/memory.md): every call scoped to an organisation -----------

    async def search_memories(
        self, query: str, *, org_id: str | None = None, repo: str | None = None, k: int = 5
    ) -> list[FoundMemory]:
        """The lessons nearest ``query`` (of the repository ``repo``, as runs name it, when given), nearest first."""
        from quarterdeck.memory import service

        return await service.search(self.db, query, org_id=org_id or self.settings.org, repo=repo, k=k)

    async def memories(
        self, *, org_id: str | None = None, repo: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[MemoryRecord]:
        from quarterdeck.memory import service

        where = await service.repository_key(repo) if repo is not None else None
        return await service.listing(
            self.db, org_id=org_id or self.settings.org, repo=where, run_id=run_id, limit=limit
        )

    async def memory(self, memory_id: str, *, org_id: str | None = None) -> MemoryRecord:
        from quarterdeck.memory import service

        return await service.read(self.db, memory_id, org_id=org_id or self.settings.org)

    async def forget_memories(
        self,
        *,
        org_id: str | None = None,
        memory_id: str | None = None,
        repo: str | None = None,
        run_id: str | None = None,
    ) -> int:
        """Forget one lesson, a repository's or a run's; how many went."""
        from quarterdeck.memory import service

        return await service.forget(
            self.db, org_id=org_id or self.settings.org, memory_id=memory_id, repo=repo, run_id=run_id
        )

    @staticmethod
    async def memory_repository(text: str) -> str:
        """A repository a user named on this machine as its runs name it (a local path's top level; a URL as given):
        the ``repo`` the memory calls take. Not for the API, whose callers' paths are not this machine's."""
        from quarterdeck.memory import service

        return await service.repository_key(text)

    async def task_memories(self, run_id: str, task_id: str, *, org_id: str | None = None) -> list[GivenMemory]:
        """The lessons the task's prompt was given (``memory.recalled``)."""
        from quarterdeck.memory import service

        return await service.given_to_task(self.db, run_id, task_id, org_id=org_id or self.settings.org)

    # --- talking to an agent (``engine/talk.py``) -----------------------------------------------------------

    async def say(self, run_id: str, task_id: str, message: str, *, by: str) -> Said:
        """Send a follow-up to the task's agent: after its current turn, as a revision, or with its retry."""
        from quarterdeck.engine import talk

        return await talk.say(self.db, run_id, task_id, message, by=by)

    async def edit_task(
        self,
        run_id: str,
        task_id: str,
        *,
        by: str,
        prompt: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Change a waiting or dead-letter task's prompt and/or options before it is (re)tried."""
        from quarterdeck.engine import talk

        await talk.edit(self.db, self.registry, run_id, task_id, by=by, prompt=prompt, options=options)

    async def find_run_of_task(self, task_id: str) -> str:
        """The newest run that has a task called ``task_id``."""
        async with self.db.read() as conn:
            return await task_store.read_newest_run_of_task(conn, task_id)

    async def view(self, run_id: str, *, failures: bool = False) -> RunView:
        """The run and its tasks; with ``failures``, the last meaningful output line of each failed task."""
        async with self.db.read() as conn:
            run = await run_store.read_run(conn, run_id)
            tasks = await task_store.read_tasks(conn, run_id)
            lines: dict[str, str] = {}
            for task in tasks if failures else ():
                if task.status.value not in ("failed", "conflict"):
                    continue
                printed = await event_store.read_events(
                    conn, run_id, task_id=task.id, types=overview.PRINTING, limit=100_000
                )
                if (line := overview.last_meaningful_line(printed)) is not None:
                    lines[task.id] = line
        return RunView(run=run, tasks=tuple(tasks), failures=lines)

    async def analytics(
        self,
        *,
        by: analytics.Grouping = "role",
        since: str | None = None,
        until: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> analytics.Report:
        """How the organisation's ended tasks did in a window (default: the last 30 days), grouped ``by``
        role, runtime, model, project, run, story, day or week (see ``domain/analytics.py``).

        Raises:
            InputError: ``by`` is unknown, or the window is malformed or empty.
        """
        from quarterdeck.store import analytics as analytics_store

        if by not in analytics.GROUPINGS:
            raise InputError(f"unknown grouping {by!r}: use {', '.join(analytics.GROUPINGS)}")
        try:
            start, end = analytics.parse_window(since, until, utcnow())
        except ValueError as exc:
            raise InputError(str(exc)) from None
        async with self.db.read() as conn:
            facts = await analytics_store.read_task_facts(
                conn, org_id=org_id or self.settings.org, since=start, until=end, project_id=project_id
            )
        total = analytics.summarise(facts, None)
        return analytics.Report(start, end, by, analytics.summarise(facts, by), total[0] if total else None)

    async def runs(self, *, limit: int = 20) -> list[RunRecord]:
        async with self.db.read() as conn:
            return await run_store.read_runs(conn, limit=limit)

    def local_repository(self, run: RunRecord) -> Path:
        """Where this machine works on the run's repository: its path, or its cache of the remote it names."""
        from quarterdeck.workspaces import remote

        if remote.is_url(run.repo_path):
            return remote.cache_dir(self.settings.resolved_repo_cache(), run.repo_path)
        return Path(run.repo_path)

    async def prune_agent_files(self) -> int:
        """Forget stored agent areas older than ``agent_files_days`` (retention); how many chunks went."""
        from quarterdeck.store import agent_files

        before = utcnow() - timedelta(days=self.settings.agent_files_days)
        async with self.db.transaction() as conn:
            return await agent_files.delete_agent_files(conn, before=before)

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

    async def attempts(self, task: TaskRecord) -> list[AttemptRecord]:
        async with self.db.read() as conn:
            return await task_store.read_attempts(conn, task.pk)

    async def events(
        self,
        run_id: str,
        *,
        after_id: int = 0,
        limit: int = 1000,
        task_id: str | None = None,
        types: Sequence[str] = (),
    ) -> list[EventRecord]:
        """A run's events after ``after_id``, oldest first (of one task, of some types, when given)."""
        async with self.db.read() as conn:
            return await event_store.read_events(
                conn, run_id, after_id=after_id, limit=limit, task_id=task_id, types=types
            )


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


async def _project_env(repo: Path | str) -> dict[str, str]:
    """The repository's ``[workspace] env`` (empty when it has none, is no repository, or is named by URL)."""
    from quarterdeck.workspaces import git, project, remote

    if isinstance(repo, str) and remote.is_url(repo):
        return {}
    repo = Path(repo)
    try:
        top = await git.open_repository(repo)
    except WorkspaceError:
        return {}
    return dict(project.load_project_config(top).workspace.env)
