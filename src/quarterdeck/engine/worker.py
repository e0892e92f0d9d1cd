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
from collections import deque
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.domain.events import EventType
from quarterdeck.engine import outcomes
from quarterdeck.engine.attempt import AttemptOutcome, RunSetup, execute_attempt
from quarterdeck.engine.outcomes import OutcomeWriter
from quarterdeck.engine.secrets import AgentSecrets
from quarterdeck.errors import LeaseLost, QuarterdeckError
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim
from quarterdeck.store.types import utcnow

__all__ = ["Worker", "new_worker_id"]

log = logging.getLogger(__name__)


#: how many claimed tasks a slot may hold lined up behind the running one (see ``Worker._slot``); on
#: PostgreSQL 4 rather than 2 made groups larger and no-op tasks 30 % faster, on SQLite it made no difference
_AHEAD = 4


def new_worker_id() -> str:
    return f"{socket.gethostname()[:24]}-{os.getpid()}-{ids.new_id()[-4:]}"


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
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.slots = max(1, slots)
        self.run_id = run_id
        self.worker_id = worker_id or new_worker_id()
        self.on_outcome = on_outcome
        #: opens the organisations' agent secrets into the agents' environments
        self.secrets = AgentSecrets(db, settings)
        self.should_exit = False
        self.force_exit = False
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[AttemptOutcome]] = set()
        self._runs: dict[str, RunSetup] = {}
        self._last_reap = 0.0
        #: records the slots' successful outcomes in groups, claiming their next tasks in the same transaction
        self.outcomes = OutcomeWriter(
            db, self._claim_many, concurrency=max(1, self.slots // 2) if db.dialect == "postgresql" else 1
        )
        #: how many times the loop has looked for work (for tests and metrics)
        self.polls = 0

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def serve(self) -> None:
        """Work until ``should_exit``; then drain, or stop hard on ``force_exit``."""
        delay = 0.005
        while not self.should_exit:
            claimed = 0
            try:
                await self._reap_if_due()
                while (free := self.slots - len(self._running)) > 0 and not self.should_exit:
                    claims = await self._claim(free)
                    for claim in claims:
                        await self._start(claim)
                    claimed += len(claims)
                    if len(claims) < free:
                        break
            except QuarterdeckError as exc:
                log.warning("worker %s: %s", self.worker_id, exc)
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
                return
            await self._wake.wait()
            self._wake.clear()

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
            )

    async def _run_of(self, run_id: str) -> RunSetup:
        """The run and what its attempts share, read on its first task (see ``RunSetup``)."""
        if run_id not in self._runs:
            async with self.db.read() as conn:
                run = await run_store.read_run(conn, run_id)
            self._runs[run_id] = RunSetup.of(run)
        return self._runs[run_id]

    async def _start(self, claim: Claim) -> None:
        task = asyncio.create_task(self._slot(claim), name=f"attempt:{claim.task.id}")
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _slot(self, claim: Claim) -> AttemptOutcome:
        """Run the attempt, then the tasks its outcomes claimed, until there are none.

        Pipelined: once an attempt's success is queued with the writer, the slot starts a task lined up
        behind it, claimed by an earlier outcome whose transaction has committed, while that success
        commits. Such a task was ready before the pending outcome committed, so it cannot depend on it.
        An outcome claims enough for the slot to hold ``_AHEAD`` tasks lined up (counting what the
        slot's pending outcomes claim), but only its next task (none lined up) when limits are set (a
        lined-up task counts against them while it waits) or when its attempt took ``heartbeat_s`` or
        more (long attempts would make lined-up tasks wait long). A lined-up task that waited longer than
        ``heartbeat_s`` has its lease renewed before it starts; on drain lined-up tasks are released.
        """
        lined: deque[tuple[Claim, float]] = deque([(claim, time.monotonic())])
        current: asyncio.Task[AttemptOutcome] | None = None
        #: outcomes queued and not known committed yet, oldest first, with how many tasks each claims
        recording: deque[tuple[asyncio.Task[AttemptOutcome], list[int]]] = deque()
        last = AttemptOutcome(succeeded=False)
        loop = asyncio.get_running_loop()
        ahead = 0 if self.settings.limits else _AHEAD
        try:
            while True:
                while recording and recording[0][0].done():
                    last = self._reported(recording.popleft()[0].result(), lined)
                if self.should_exit:
                    await self._hand_back(lined)
                if not lined:
                    if not recording:
                        return last
                    last = self._reported(await recording.popleft()[0], lined)
                    continue
                claim, since = lined.popleft()
                if time.monotonic() - since > self.settings.heartbeat_s and not await self._renew(claim):
                    continue
                run = await self._run_of(claim.task.run_id)
                started = time.monotonic()
                asked: list[int] = []

                def wants(started: float = started, asked: list[int] = asked) -> int:
                    depth = ahead if time.monotonic() - started < self.settings.heartbeat_s else 0
                    expected = len(lined) + sum(n[0] if n else 1 for _, n in recording)
                    asked.append(max(0, depth + 1 - expected))
                    return asked[0]

                queued: asyncio.Future[None] = loop.create_future()

                def on_queued(queued: asyncio.Future[None] = queued) -> None:
                    if not queued.done():
                        queued.set_result(None)

                current = asyncio.ensure_future(
                    execute_attempt(
                        self.db,
                        self.settings,
                        self.registry,
                        claim,
                        run,
                        claim_next=self._claim_next,
                        secrets=self.secrets,
                        writer=self.outcomes,
                        wants=wants,
                        on_queued=on_queued,
                    )
                )
                await asyncio.wait((current, queued), return_when=asyncio.FIRST_COMPLETED)
                recording.append((current, asked))
                current = None
        except BaseException:
            pending = [t for t, _ in recording] + ([current] if current is not None else [])
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.shield(self._hand_back(lined))
            raise

    def _reported(self, outcome: AttemptOutcome, lined: deque[tuple[Claim, float]]) -> AttemptOutcome:
        """Report an outcome once committed and line up the tasks it claimed."""
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        now = time.monotonic()
        lined.extend((c, now) for c in outcome.next_claims)
        return outcome

    async def _hand_back(self, lined: deque[tuple[Claim, float]]) -> None:
        """Release the lined-up tasks that have not started (the worker is stopping)."""
        while lined:
            await outcomes.release(self.db, lined.popleft()[0])

    async def _renew(self, claim: Claim) -> bool:
        """Renew a lined-up task's lease before it starts; False if it was lost (expired and reaped)."""
        try:
            async with self.db.transaction() as conn:
                await task_store.renew_lease(conn, claim, lease_s=self.settings.lease_s, now=utcnow())
        except LeaseLost:
            return False
        except QuarterdeckError as exc:  # the database is away: the attempt's own writes will tell
            log.warning("renewing the lease of %s failed: %s", claim.task.id, exc)
        return True

    async def _claim_next(self, conn: AsyncConnection) -> Claim | None:
        claims = await self._claim_many(conn, 1)
        return claims[0] if claims else None

    async def _claim_many(self, conn: AsyncConnection, count: int) -> list[Claim]:
        """Up to ``count`` tasks for the slots of a group of outcomes, claimed in that group's transaction."""
        if self.should_exit:
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
            )
            claims += more
            if not more or not self.settings.limits:
                break
        return claims

    def _finished(self, task: asyncio.Task[AttemptOutcome]) -> None:
        self._running.discard(task)
        self._wake.set()
        if task.cancelled():
            return
        if (error := task.exception()) is not None:
            log.error("attempt crashed: %r", error, exc_info=error)
