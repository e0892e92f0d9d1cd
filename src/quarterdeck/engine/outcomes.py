"""Group commit of successful outcomes: those ready at the same moment are written in one transaction.

A worker's slots finish their attempts independently. Each hands its outcome to the worker's
``OutcomeWriter`` and waits; the writer takes every outcome queued by then and records them together:
one fenced statement marks the tasks succeeded (a stale lease token loses only its own row), one
releases their dependants, one claims the next task for each slot that wants one, one appends all
their events, then one commit. ``record`` returns once the outcome is committed (or known lost), so
nothing that depends on it can be claimed before it is durable; the slot then starts the task claimed
for it (see ``Worker._slot``). A slot is given one task at most, which it starts at once: nothing is
claimed for a slot that is busy, so a ready task never waits behind one while another slot is free.

On SQLite the statements run on the event loop's thread, so the group is what finished within one
turn of the loop; on PostgreSQL it is also whatever finished while the previous group was committing,
and a few groups may commit at once (on connections of their own): a durable commit waits for the
server's WAL flush (milliseconds), and concurrent commits share one flush.
Failed attempts are rarer and each does more (retry policy, blocking, follow-ups): they keep their
own transaction (``attempt._record``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.engine import control
from quarterdeck.errors import QuarterdeckError, StoreError
from quarterdeck.store import control as control_store
from quarterdeck.store import database, wakeups
from quarterdeck.store import events as event_store
from quarterdeck.store import runs as run_store
from quarterdeck.store import tasks as task_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import Claim
from quarterdeck.store.types import utcnow

__all__ = ["ClaimMany", "OutcomeWriter", "Success", "release"]

log = logging.getLogger(__name__)

#: Claims up to ``count`` tasks inside the group's transaction (none when the worker is stopping) and appends the
#: group's events there (on PostgreSQL in the claim's statement: ``tasks.claim_tasks``'s ``events``).
ClaimMany = Callable[[AsyncConnection, int, Sequence[event_store.NewEvent]], Awaitable[list[Claim]]]


@dataclass(frozen=True, slots=True)
class Success:
    """A successful attempt's outcome, to be recorded."""

    claim: Claim
    #: the attempt's events not written yet (they are written with the outcome)
    events: Sequence[event_store.NewEvent]
    #: the landed commit, if any
    commit: str | None
    #: how many tasks the slot takes when this one is recorded: 1 (its next, started at once) or 0
    wants: int


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording one success changed (``attempt.AttemptOutcome`` is built from it)."""

    #: False when the attempt had lost its lease: its outcome was dropped
    held: bool
    newly_ready: tuple[str, ...] = ()
    run_finished: bool = False
    #: the tasks claimed for the outcome's slot in the same transaction (at most ``Success.wants``)
    next_claims: tuple[Claim, ...] = ()


@dataclass(slots=True)
class _Queued:
    success: Success
    done: asyncio.Future[Recorded]


class OutcomeWriter:
    """Records successful outcomes in groups; ``record`` returns once its outcome is committed."""

    def __init__(self, db: Database, claim: ClaimMany | None = None, *, concurrency: int = 1) -> None:
        self.db = db
        self.claim = claim
        #: how many groups may be committing at once (see ``Worker``: more than one on PostgreSQL only)
        self.concurrency = max(1, concurrency)
        self._queue: list[_Queued] = []
        self._writers: set[asyncio.Task[None]] = set()
        #: writers still writing: counted down as a writer leaves its loop, not when its task's done
        #: callbacks run (an outcome queued between the two would wait for the next one to be queued)
        self._active = 0
        #: a writer was started and has not taken the queue yet
        self._starting = False
        #: how many groups were committed and how many outcomes they held (for tests and benchmarks)
        self.groups = 0
        self.recorded = 0

    async def record(self, success: Success) -> Recorded:
        """Queue the outcome for the next group and wait until that group is committed.

        While the database is away the group is retried until it is back (an outcome whose lease
        expired meanwhile comes back not held).
        """
        return await self.submit(success)

    def submit(self, success: Success) -> asyncio.Future[Recorded]:
        """Queue the outcome for the next group; the future is done once that group is committed."""
        done: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(success, done))
        if not self._starting and self._active < self.concurrency:
            # Started as a task, a writer first runs after every slot that is ready in this turn of the
            # loop has queued its outcome too.
            self._starting = True
            self._active += 1
            writer = asyncio.ensure_future(self._write_queued())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return done

    async def _write_queued(self) -> None:
        """Write what is queued, group after group, until the queue is empty."""
        self._starting = False
        try:
            await self._write_groups()
        finally:
            self._active -= 1

    async def _write_groups(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            try:
                results = await self._write_retrying(group)
            except asyncio.CancelledError:
                for queued in group:
                    queued.done.cancel()
                raise
            except Exception as exc:
                for queued in group:
                    if not queued.done.done():
                        queued.done.set_exception(exc)
                continue
            for queued, result in zip(group, results, strict=True):
                if not queued.done.done():
                    queued.done.set_result(result)
                else:  # its slot was cancelled meanwhile: hand the tasks claimed for it back
                    for claim in result.next_claims:
                        await release(self.db, claim)

    async def _write_retrying(self, group: list[_Queued]) -> list[Recorded]:
        """Write the group; retried for as long as the database is away. A retry after a commit whose
        acknowledgement was lost finds the leases released: those outcomes count as lost, not twice."""
        delay, failures = 0.1, 0
        while True:
            try:
                results = await self._write(group)
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    log.warning("recording %d outcomes failed; retrying while the db is away: %s", len(group), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if failures:
                log.info("recorded %d outcomes after %d tries", len(group), failures + 1)
            return results

    async def _write(self, group: list[_Queued]) -> list[Recorded]:
        now = utcnow()
        async with self.db.transaction(hot=True) as conn:
            # On PostgreSQL the group's hot statements await the driver directly (``compiled``: no greenlet);
            # on SQLite they run at once on the connection (``in_one_switch`` calls the block directly).
            if self.db.dialect == "postgresql":
                written = await self._statements(conn, group, now)
            else:
                written = await database.in_one_switch(conn, lambda c: self._statements(c, group, now))
        for run_id in written.recheck:
            if await control.finish_after_commit(self.db, run_id):
                written.final[run_id] = RunStatus.FAILED  # (any terminal status: only "the run ended" is reported)
        self.groups += 1
        self.recorded += len(written.kept)
        return _results(group, written)

    async def _statements(self, conn: AsyncConnection, group: list[_Queued], now: datetime) -> _Written:
        """The group's transaction: outcomes, dependants, next claims, the runs' ends, events."""
        successes = [q.success for q in group]
        held, ready = await task_store.complete_tasks(conn, [(s.claim, s.commit) for s in successes], now=now)
        written = _Written(kept={c.attempt_id for c in held}, ready=ready)
        live = [s for s in successes if s.claim.attempt_id in written.kept]
        new: list[event_store.NewEvent] = []
        for s in live:
            task = s.claim.task
            new += s.events
            new.append(event_store.NewEvent(task.run_id, EventType.TASK_SUCCEEDED, {"commit": s.commit}, task.id))
        new += [event_store.NewEvent(run_id, EventType.TASK_READY, {}, task_id) for run_id, task_id in ready]
        wanting = [q for q in group if q.success.wants and q.success.claim.attempt_id in written.kept]
        wanting = [q for q in wanting if not q.done.done()]
        count = sum(q.success.wants for q in wanting)
        claims: list[Claim] = []
        if wanting and self.claim is not None:
            claims = await self.claim(conn, count, new)  # (it appends the events: one round trip fewer)
            new = []
        # In the claim's order (priority, critical path, plan order): the group's first slot gets the best.
        taken: dict[int, tuple[Claim, ...]] = {}
        places = [id(q) for q in wanting for _ in range(q.success.wants)]
        for place, claim in zip(places, claims, strict=False):
            taken[place] = (*taken.get(place, ()), claim)
        written.next_claims = taken
        if len(ready) > len(claims):  # more became ready than this group starts: other workers may take them
            await wakeups.announce_ready(conn, self.db.dialect)
        # A run with a task claimed just now goes on (that task's outcome looks again): no probes.
        going_on = {c.task.run_id for c in claims}
        for run_id in dict.fromkeys(s.claim.task.run_id for s in live):
            if run_id in going_on:
                continue
            blocker = await run_store.first_unfinished(conn, run_id)
            status = await run_store.finish_run_if_done(conn, run_id, now) if blocker is None else None
            if status is not None:
                written.final[run_id] = status
                new.append(control.ended(run_id, status))
            elif blocker is TaskStatus.RUNNING and self.db.dialect == "postgresql":
                # Under READ COMMITTED a task finishing concurrently may have seen ours still running;
                # whoever commits last sees everything, so each looks again after its commit.
                written.recheck.append(run_id)
        await event_store.create_events(conn, new)
        return written


@dataclass(slots=True)
class _Written:
    """What a group's transaction did."""

    #: attempt ids of the outcomes that held their lease (the others were dropped)
    kept: set[str]
    #: dependants that became ready, as ``(run_id, task_id)``
    ready: list[tuple[str, str]]
    #: the tasks claimed for an outcome's slot, by ``id()`` of its queue entry
    next_claims: dict[int, tuple[Claim, ...]] = field(default_factory=dict)
    #: runs that ended
    final: dict[str, RunStatus] = field(default_factory=dict)
    #: runs to look at again after the commit (PostgreSQL)
    recheck: list[str] = field(default_factory=list)


def _results(group: list[_Queued], written: _Written) -> list[Recorded]:
    """Each outcome's share: its next claim; the group's newly ready tasks and a run's end go to the
    run's last outcome in the group, so each is reported once."""
    kept = written.kept
    last_of_run = {q.success.claim.task.run_id: i for i, q in enumerate(group) if q.success.claim.attempt_id in kept}
    last = max(last_of_run.values(), default=-1)
    results = []
    for i, queued in enumerate(group):
        claim = queued.success.claim
        if claim.attempt_id not in kept:
            log.info("attempt %s of %s lost its lease; its outcome is dropped", claim.attempt_number, claim.task.id)
            results.append(Recorded(held=False))
            continue
        run_id = claim.task.run_id
        results.append(
            Recorded(
                held=True,
                newly_ready=tuple(task_id for _, task_id in written.ready) if i == last else (),
                run_finished=run_id in written.final and last_of_run[run_id] == i,
                next_claims=written.next_claims.get(id(queued), ()),
            )
        )
    return results


async def release(db: Database, claim: Claim) -> None:
    """Hand back a task claimed for a slot that is gone or stopping (its lease would otherwise have to expire)."""
    try:
        async with db.transaction() as conn:
            if await control_store.release_task(conn, claim, now=utcnow()):
                await event_store.create_events(
                    conn,
                    [
                        event_store.NewEvent(
                            claim.task.run_id, EventType.TASK_RELEASED, {}, claim.task.id, claim.attempt_id
                        )
                    ],
                )
                await wakeups.announce_ready(conn, db.dialect)  # ready again: for an idle worker elsewhere
    except QuarterdeckError as exc:
        log.warning("could not release %s: %s", claim.task.id, exc)
