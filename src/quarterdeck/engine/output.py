"""What running attempts emit (agents' output, tool calls), written for all of them at once in bounded batches.

Each attempt queues its events (``_Attempt.emit``); one writer per database and event loop takes
every running attempt's queue every ``FLUSH_S`` and commits them in one transaction (at most
``MAX_BATCH`` events each; more waiting go in further transactions at once). Fifty printing agents
then cost ten commits a second, not one per agent per flush. An attempt's outcome waits for a write
that holds its events (``Pending.settle``) and writes whatever is still queued itself, so events
are never lost or written out of order; a failed write gives the events back to their attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from quarterdeck.errors import QuarterdeckError, StoreError
from quarterdeck.store import events as event_store
from quarterdeck.store.database import Database

__all__ = ["FLUSH_S", "MAX_BATCH", "OutputWriter", "Pending"]

log = logging.getLogger(__name__)

#: how often queued events are written while attempts run (so watchers see them live)
FLUSH_S = 0.1
#: events per transaction at most
MAX_BATCH = 1000


class Pending:
    """One attempt's queue of events not written yet, and the write that holds some of them."""

    __slots__ = ("events", "inflight", "label")

    def __init__(self, label: str) -> None:
        self.label = label
        self.events: list[event_store.NewEvent] = []
        self.inflight: asyncio.Future[None] | None = None

    def take(self) -> list[event_store.NewEvent]:
        taken, self.events = self.events, []
        return taken

    async def settle(self) -> None:
        """Wait for a write that holds some of these events (a failed one gave them back)."""
        if self.inflight is not None:
            with contextlib.suppress(QuarterdeckError):
                await asyncio.shield(self.inflight)


class OutputWriter:
    """The writer of one database on one event loop; ``for_database`` finds or makes it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._attempts: set[Pending] = set()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_database(cls, db: Database) -> OutputWriter:
        writer = _WRITERS.get(db)
        if writer is None or (writer._task is not None and writer._task.get_loop() is not asyncio.get_running_loop()):
            writer = _WRITERS[db] = cls(db)
        return writer

    def add(self, pending: Pending) -> None:
        """Write ``pending``'s events every ``FLUSH_S`` from now until ``discard``."""
        self._attempts.add(pending)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="quarterdeck-output")

    def discard(self, pending: Pending) -> None:
        self._attempts.discard(pending)

    async def _run(self) -> None:
        while self._attempts:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        """Write every queued event now, in transactions of at most ``MAX_BATCH`` events."""
        batch: list[tuple[Pending, list[event_store.NewEvent]]] = []
        size = 0
        for pending in list(self._attempts):
            if not pending.events:
                continue
            events = pending.take()
            batch.append((pending, events))
            size += len(events)
            if size >= MAX_BATCH:
                await self._write(batch)
                batch, size = [], 0
        if batch:
            await self._write(batch)

    async def _write(self, batch: list[tuple[Pending, list[event_store.NewEvent]]]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for pending, _ in batch:
            pending.inflight = done
        try:
            async with self.db.transaction() as conn:
                await event_store.create_events(conn, [event for _, events in batch for event in events])
        except QuarterdeckError as exc:
            for pending, events in batch:
                pending.events[:0] = events  # the outcome's transaction writes them instead, in order
            log.warning("events of %d running attempts not written yet: %s", len(batch), exc)
            done.set_exception(exc)
            done.exception()  # retrieved: an attempt that does not settle must not log it again
            return
        except BaseException:
            for pending, events in batch:
                pending.events[:0] = events
            done.set_exception(StoreError("the write of running attempts' events was interrupted"))
            done.exception()
            raise
        done.set_result(None)


_WRITERS: weakref.WeakKeyDictionary[Database, OutputWriter] = weakref.WeakKeyDictionary()
