"""The worker loop: reap expired leases, claim ready tasks into free slots, run them, repeat.

``should_exit`` drains (no new claims; running attempts finish); ``force_exit`` stops hard
(running attempts are cancelled, their process groups killed, their leases left to expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.domain.events import EventType
from quarterdeck.engine import outcomes
from quarterdeck.engine.attempt import AttemptOutcome, RunSetup, execute_attempt
from quarterdeck.engine.outcomes import OutcomeWriter
from quarterdeck.engine.reviewing import Reviewer
from quarterdeck.engine.secrets import AgentSecrets
from quarterdeck.errors import QuarterdeckError, RepositoryUnavailable, StoreError
from quarterdeck.notify.notifier import Notifier
from quarterdeck.observability import context
from quarterdeck.runtimes import cli_tools, process
from quarterdeck.runtimes.registry import Registry
from quarterdeck.security.keyring import KeySettings
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store import wakeups
from quarterdeck.store import workers as worker_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim
from quarterdeck.store.types import utcnow

__all__ = ["UNREACHABLE_S", "WORKER_BEAT_S", "Supervising", "Worker", "new_worker_id"]

log = logging.getLogger(__name__)
#: runtimes that are an agent CLI this machine may lack: offered only once found working
_CLI_RUNTIMES = frozenset(cli.name for cli in cli_tools.CLIS)

#: how long a worker leaves the tasks of a repository it could not reach to other workers before trying again
UNREACHABLE_S = 15.0
#: how often a worker tells the registry it is alive (``quarterdeck workers`` counts one silent for 3× this as gone)
WORKER_BEAT_S = 5.0


def new_worker_id() -> str:
    return f"{socket.gethostname()[:24]}-{os.getpid()}-{ids.new_id()[-4:]}"


class Supervising(Protocol):
    """What drives the decisions of the runs this worker serves (the crews' supervisor), beside its slots."""

    should_exit: bool

    async def serve(self) -> None: ...

    def wake(self) -> None: ...


class Worker:
    """Runs up to ``slots`` attempts at once, optionally only for one run."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: Registry,
        *,
        slots: int = 1,
        run_id: str | None = None,
        worker_id: str | None = None,
        on_outcome: Callable[[AttemptOutcome], None] | None = None,
        keys: KeySettings | None = None,
        supervisor: Supervising | None = None,
        reviewer: Reviewer | None = None,
    ) -> None:
        self.db = db
        #: judges the attempts' verified work before it lands (the crews' reviewer: ``engine/reviewing.py``)
        self.reviewer = reviewer
        #: takes the runs' decision steps (planning, re-planning, budget gates) while the worker serves
        self.supervisor = supervisor
        self.settings = settings
        self.registry = registry
        self.slots = max(1, slots)
        self.run_id = run_id
        self.worker_id = worker_id or new_worker_id()
        self.on_outcome = on_outcome
        #: opens the organisations' agent secrets into the agents' environments
        self.secrets = AgentSecrets(db, settings, keys)
        self.should_exit = False
        self.force_exit = False
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[AttemptOutcome]] = set()
        #: finished tasks' worktrees being removed (parked) while their slots go on (awaited before stopping)
        self._tidying: set[asyncio.Task[None]] = set()
        self._runs: dict[str, RunSetup] = {}
        self._last_reap = 0.0
        #: repositories this worker could not reach, and until when it leaves their tasks to others
        self.unreachable: dict[str, float] = {}
        #: what it offers tasks that require something: its labels, and ``runtime:<name>`` for its runtimes —
        #: an agent CLI's runtime only once this machine is found to have the CLI working (``_probe_clis``)
        self.labels = tuple(sorted(set(settings.worker_labels)))
        self.runtimes = [name for name in registry.names() if name not in _CLI_RUNTIMES]
        self.offers = self._offering()
        #: set once the agent CLIs have been probed and what the worker offers is final
        self.runtimes_known = asyncio.Event()
        self._last_beat = 0.0
        #: records the slots' successful outcomes in groups, claiming their next tasks in the same transaction
        self.outcomes = OutcomeWriter(
            db, self._claim_many, concurrency=max(1, self.slots // 2) if db.dialect == "postgresql" else 1
        )
        #: queues and delivers notifications while the worker serves
        self.notifier = Notifier(db, settings, keys=keys)
        #: how many times the loop has looked for work (for tests and metrics)
        self.polls = 0

    def _offering(self) -> tuple[str, ...]:
        return tuple(sorted({*self.labels, *(f"runtime:{name}" for name in self.runtimes)}))

    async def _probe_clis(self) -> None:
        """Offer an agent CLI's runtime only where the CLI works here (``doctor``'s check, without credentials:
        a task's come from the organisation's secrets). Runs beside the loop, so a worker starts at once."""
        env = process.base_env()
        wanted = [cli for cli in cli_tools.CLIS if cli.name in self.registry.names()]
        problems = await asyncio.gather(*(cli_tools.installed(cli, env) for cli in wanted))
        for cli, problem in zip(wanted, problems, strict=True):
            if problem is None:
                self.runtimes.append(cli.name)
            else:
                log.info("worker %s does not offer %s: %s", self.worker_id, cli.name, problem)
        self.offers = self._offering()
        self.runtimes_known.set()
        await self._beat(runtimes=True)

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def serve(self) -> None:
        """Work until ``should_exit``; then drain, or stop hard on ``force_exit``.

        The worker also listens for other processes' announcements of ready tasks (``store.wakeups``:
        PostgreSQL's ``NOTIFY``, a SQLite file's doorbell), so an idle worker starts them at once rather
        than at its next poll.
        """
        self.secrets.open_keyring()  # before any step runs (see ``AgentSecrets.open_keyring``)
        context.set_ids(worker_id=self.worker_id)  # on every log record of its attempts
        await self._register()
        probing = asyncio.create_task(self._probe_clis(), name="quarterdeck-cli-probe")
        listener = wakeups.ReadyListener(self.db.url, self.wake)
        await listener.start()
        # whichever process runs workers delivers notifications too (``notify/notifier.py``)
        notifying = asyncio.create_task(self.notifier.serve(), name="quarterdeck-notifier")
        # and takes the decision steps of crews' runs (``crews/supervisor.py``)
        deciding = asyncio.create_task(self.supervisor.serve()) if self.supervisor is not None else None
        try:
            await self._serve()
        finally:
            self.notifier.should_exit = True
            self.notifier.wake()
            if deciding is not None and self.supervisor is not None:
                self.supervisor.should_exit = True
                self.supervisor.wake()
                if self.force_exit:
                    deciding.cancel()
                await asyncio.gather(deciding, return_exceptions=True)
            await notifying
            await listener.stop()
            if not probing.done():
                probing.cancel()
            await asyncio.gather(probing, return_exceptions=True)
            await self._beat(stopped=True)

    async def _register(self) -> None:
        """Say who this worker is and what it offers (``quarterdeck workers``); the database may be away."""
        try:
            async with self.db.transaction() as conn:
                await worker_store.create_worker(
                    conn,
                    worker_id=self.worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    slots=self.slots,
                    labels=self.labels,
                    runtimes=self.runtimes,
                    now=utcnow(),
                )
        except QuarterdeckError as exc:
            log.warning("worker %s could not register (it works all the same): %s", self.worker_id, exc)
        self._last_beat = time.monotonic()

    async def _beat(self, *, stopped: bool = False, runtimes: bool = False) -> None:
        """The worker's heartbeat in the registry: how busy, which repositories it cannot reach, or stopped."""
        self._last_beat = time.monotonic()
        try:
            async with self.db.transaction() as conn:
                await worker_store.update_worker(
                    conn,
                    self.worker_id,
                    now=utcnow(),
                    running=len(self._running),
                    unreachable=self._avoided(),
                    stopped=stopped,
                    runtimes=self.runtimes if runtimes else None,
                )
        except QuarterdeckError as exc:
            log.debug("worker %s heartbeat failed: %s", self.worker_id, exc)

    async def _serve(self) -> None:
        delay = 0.005
        away = False  # the database is away: said once per outage, the loop rides it out
        while not self.should_exit:
            claimed = 0
            try:
                if time.monotonic() - self._last_beat >= WORKER_BEAT_S:
                    await self._beat()
                await self._reap_if_due()
                while (free := self.slots - len(self._running)) > 0 and not self.should_exit:
                    claims = await self._claim(free)
                    for claim in claims:
                        await self._start(claim)
                    claimed += len(claims)
                    if len(claims) < free:
                        break
            except StoreError as exc:
                if not away:
                    log.warning("worker %s: database away, waiting for it: %s", self.worker_id, exc)
                away = True
            except QuarterdeckError as exc:
                log.warning("worker %s: %s", self.worker_id, exc)
            else:
                if away:
                    log.warning("worker %s: database back", self.worker_id)
                away = False
            self.polls += 1
            delay = 0.005 if claimed else min(delay * 2, self.settings.poll_max_s)
            await self._wait(delay)
        await self._drain()

    async def _wait(self, delay: float) -> None:
        """Sleep until woken (work may be ready, an attempt ended) or ``delay`` passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._wake.clear()

    async def _drain(self) -> None:
        while self._running:
            if self.force_exit:
                for task in self._running:
                    task.cancel()
                await asyncio.gather(*self._running, return_exceptions=True)
                break
            await self._wake.wait()
            self._wake.clear()
        if self.force_exit:  # (a worktree half moved into the pool is discarded when next looked at)
            for tidying in self._tidying:
                tidying.cancel()
        await asyncio.gather(*self._tidying, return_exceptions=True)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` (a finished task's tidying) beside the slots; ``_drain`` waits for it."""
        task = asyncio.ensure_future(work)
        self._tidying.add(task)
        task.add_done_callback(self._tidying.discard)
        return task

    async def _reap_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_reap < self.settings.lease_s / 4:
            return
        self._last_reap = now
        async with self.db.transaction() as conn:
            expired = await task_store.reap_expired(conn, now=utcnow())
            await event_store.create_events(
                conn,
                [
                    event_store.NewEvent(
                        e.run_id, EventType.LEASE_EXPIRED, {"worker": e.worker_id}, e.task_id, e.attempt_id
                    )
                    for e in expired
                ],
            )
            if expired:  # ready again: for any idle worker
                await wakeups.announce_ready(conn, self.db.dialect)

    async def _claim(self, count: int) -> list[Claim]:
        async with self.db.transaction(hot=True) as conn:
            return await task_store.claim_tasks(
                conn,
                dialect=self.db.dialect,
                worker_id=self.worker_id,
                lease_s=self.settings.lease_s,
                now=utcnow(),
                run_id=self.run_id,
                limits=self.settings.limits,
                count=count,
                avoid_repos=self._avoided(),
                offers=self.offers,
            )

    def _avoided(self) -> list[str]:
        """The repositories whose tasks this worker leaves to others for now (it could not reach them)."""
        if not self.unreachable:
            return []
        now = time.monotonic()
        for repo in [r for r, until in self.unreachable.items() if until <= now]:
            del self.unreachable[repo]
            log.warning("worker %s: trying %s again", self.worker_id, repo)
        return list(self.unreachable)

    def _cannot_reach(self, repo: str, why: object) -> None:
        """Leave ``repo``'s tasks to other workers for ``UNREACHABLE_S`` (said once per outage)."""
        if repo not in self.unreachable:
            log.warning("worker %s: cannot reach %s; leaving its tasks to others: %s", self.worker_id, repo, why)
        self.unreachable[repo] = time.monotonic() + UNREACHABLE_S
        self._runs = {k: v for k, v in self._runs.items() if v.run.repo_path != repo}

    async def _run_of(self, run_id: str) -> RunSetup:
        """The run and what its attempts share, read on its first task (see ``RunSetup``)."""
        if run_id not in self._runs:
            async with self.db.read() as conn:
                run = await run_store.read_run(conn, run_id)
            self._runs[run_id] = await RunSetup.load(run, self.settings)
        return self._runs[run_id]

    async def _start(self, claim: Claim) -> None:
        task = asyncio.create_task(self._slot(claim), name=f"attempt:{claim.task.id}")
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _slot(self, claim: Claim) -> AttemptOutcome:
        """Run the attempt, then the task its outcome claimed for this slot, until there is none.

        Work-conserving: a task is claimed only by a slot that starts it at once, here or in ``serve``
        (the outcome's transaction claims the slot's next task, one at most: nothing is lined up behind
        a busy slot, so no ready task waits for a slot while another slot, here or in another worker,
        is free). An outcome that made more tasks ready than it claimed wakes ``serve`` to fill this
        worker's free slots, and its commit wakes the idle workers of other processes (``store.wakeups``).
        """
        last = AttemptOutcome(succeeded=False)
        following: Claim | None = claim
        #: the slot's last finished task's worktree, being parked while the next task starts (it takes it)
        tidied: list[asyncio.Task[None]] = []

        def later(work: Coroutine[Any, Any, None]) -> None:
            tidied[:] = [self._in_background(work)]

        while following is not None:
            claim, following = following, None
            if self.should_exit:  # claimed by the last outcome just as the worker began to drain
                await asyncio.shield(outcomes.release(self.db, claim))
                break
            try:
                run = await self._run_of(claim.task.run_id)
            except RepositoryUnavailable as exc:  # not started: handed back, for a worker that reaches it
                await asyncio.shield(outcomes.release(self.db, claim))
                self._cannot_reach(exc.repo, exc)
                break
            except BaseException:  # (stopped hard, or the database is away): not started, so handed back
                await asyncio.shield(outcomes.release(self.db, claim))
                raise
            last = await execute_attempt(
                self.db,
                self.settings,
                self.registry,
                claim,
                run,
                claim_next=self._claim_next,
                secrets=self.secrets,
                writer=self.outcomes,
                background=later,
                tidied=tidied[0] if tidied else None,
                reviewer=self.reviewer,
            )
            if last.unreachable is not None:
                self._cannot_reach(last.unreachable, "an attempt gave its task back")
            if self.on_outcome is not None:
                self.on_outcome(last)
            if last.next_claims:
                following = last.next_claims[0]
            if len(last.newly_ready) > len(last.next_claims) and len(self._running) < self.slots:
                self._wake.set()
        return last

    async def _claim_next(self, conn: AsyncConnection) -> Claim | None:
        claims = await self._claim_many(conn, 1)
        return claims[0] if claims else None

    async def _claim_many(
        self, conn: AsyncConnection, count: int, events: Sequence[event_store.NewEvent] = ()
    ) -> list[Claim]:
        """Up to ``count`` tasks for the slots of a group of outcomes, claimed in that group's transaction,
        which appends the group's ``events`` too (see ``outcomes.ClaimMany``)."""
        if self.should_exit:
            await event_store.create_events(conn, events)
            return []
        claims: list[Claim] = []
        # Under limits a claim takes one task at a time (each is counted against them).
        while len(claims) < count:
            more = await task_store.claim_tasks(
                conn,
                dialect=self.db.dialect,
                worker_id=self.worker_id,
                lease_s=self.settings.lease_s,
                now=utcnow(),
                run_id=self.run_id,
                limits=self.settings.limits,
                count=count - len(claims),
                avoid_repos=self._avoided(),
                offers=self.offers,
                events=events,
            )
            events = ()  # (appended by the first claim)
            claims += more
            if not more or not self.settings.limits:
                break
        return claims

    def _finished(self, task: asyncio.Task[AttemptOutcome]) -> None:
        self._running.discard(task)
        self._wake.set()
        if task.cancelled():
            return
        if isinstance(error := task.exception(), StoreError):  # (its task was handed back, or its lease expires)
            log.warning("slot stopped, the database is away: %s", error)
        elif error is not None:
            log.error("attempt crashed: %r", error, exc_info=error)
