"""The live event feed: history from the event table, then live events from the bus, gapless and in order.

One ``_Tail`` per feed does the live work for every subscriber: it listens to the bus, looks in
the table every ``poll_s`` (for events of processes that publish nowhere, and for anything the
bus dropped), and puts both through a ``Sequencer`` so that each event is released once, in id
order. A subscriber first reads the table up to the tail's watermark, then takes what the tail
releases; if it falls behind, it is dropped from the live queue and reads the table again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Self

from quarterdeck.bus.base import BusSubscription, EventBus
from quarterdeck.bus.sequencer import Release, Sequencer
from quarterdeck.errors import InputError, StoreError
from quarterdeck.store import events as event_store
from quarterdeck.store.database import Database
from quarterdeck.store.records import EventRecord

__all__ = ["SETTLE_S", "EventFeed"]

_log = logging.getLogger(__name__)

#: rows per table read (history pages and the tail's polls)
_PAGE = 500
#: on SQLite, how long the tail lets the bus fill a gap before it reads the table to settle it
_GAP_GRACE_S = 0.01
#: history ids a subscriber remembers, so that an event released late is not delivered twice
_RECENT = 4_096
#: PostgreSQL: how long a missing id holds later ones back. ``bench/events.py`` (c) measures how much
#: later than a higher id an id commits: 50 agents committing 5 times a second, on the 2-core machine
#: at load average 16-19, p50 0.3 ms, p99 36-45 ms, max 60-88 ms (half of all ids came after a higher
#: one). Anything later (a rolled-back id, a long transaction) is released late rather than lost.
SETTLE_S = 0.1
#: PostgreSQL: how far below the starting watermark the tail looks for ids still in flight
_LOOKBACK_IDS = 1_000


class _Listener:
    """One subscriber's filter and queue of releases, fed by the tail."""

    __slots__ = ("lagged", "max_pending", "queue", "run_ids", "task_id", "types", "wakeup")

    def __init__(
        self, run_ids: frozenset[str] | None, task_id: str | None, types: frozenset[str], max_pending: int
    ) -> None:
        self.run_ids = run_ids
        self.task_id = task_id
        self.types = types
        self.max_pending = max_pending
        self.queue: deque[Release] = deque()
        self.lagged = False
        self.wakeup = asyncio.Event()

    def put(self, releases: Iterable[Release]) -> None:
        run_ids, task_id, types = self.run_ids, self.task_id, self.types
        queued = False
        for release in releases:
            event = release.event
            if (
                (run_ids is None or event.run_id in run_ids)
                and (task_id is None or event.task_id == task_id)
                and (not types or event.type in types)
            ):
                self.queue.append(release)
                queued = True
        if not queued:
            return
        if len(self.queue) > self.max_pending:
            # It reads these from the table instead; the tail never waits for a subscriber.
            self.queue.clear()
            self.lagged = True
        self.wakeup.set()


class _Tail:
    """The feed's one reader of the bus and the table; releases to every listener."""

    def __init__(self, db: Database, bus: EventBus, *, poll_s: float, settle_s: float | None) -> None:
        self._db = db
        self._bus = bus
        self._poll_s = poll_s
        self._settle_s = settle_s
        self._listeners: set[_Listener] = set()
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._read_at = 0.0
        self._gap_check_at = math.inf
        self._sequencer = Sequencer(watermark=0, settle_s=settle_s)

    @property
    def watermark(self) -> int:
        return self._sequencer.watermark

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Subscribe before reading where the table ends, so nothing falls between the two.
        subscription = await self._stack.enter_async_context(self._bus.subscribe())
        try:
            async with self._db.read() as conn:
                last = await event_store.read_last_event_id(conn)
                recent = (
                    await event_store.read_event_log(
                        conn, after_id=max(0, last - _LOOKBACK_IDS), until_id=last, limit=_LOOKBACK_IDS
                    )
                    if self._settle_s is not None
                    else []
                )
        except BaseException:
            await self._stack.aclose()
            raise
        self._sequencer = Sequencer(watermark=last, settle_s=self._settle_s)
        if self._settle_s is not None:
            # PostgreSQL: ids below the last one that are not visible yet may belong to transactions
            # still in flight; if they commit, they are released late rather than never.
            present = {e.id for e in recent}
            self._sequencer.give_up(
                (i for i in range(max(0, last - _LOOKBACK_IDS) + 1, last) if i not in present), loop.time()
            )
        self._read_at = loop.time() + self._poll_s
        self._tasks = [
            loop.create_task(self._listen(subscription), name="quarterdeck-feed-bus"),
            loop.create_task(self._poll(), name="quarterdeck-feed-poll"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Ending the bus subscription first also ends a reader that did not take the cancel.
        await self._stack.aclose()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for listener in self._listeners:
            listener.lagged = True
            listener.wakeup.set()

    def attach(self, listener: _Listener) -> int:
        """Start releasing to ``listener``; returns the watermark it must read the table up to."""
        listener.queue.clear()
        listener.lagged = False
        self._listeners.add(listener)
        return self._sequencer.watermark

    def detach(self, listener: _Listener) -> None:
        self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def _emit(self, releases: list[Release]) -> None:
        if releases:
            for listener in tuple(self._listeners):
                listener.put(releases)

    async def _listen(self, subscription: BusSubscription) -> None:
        loop = asyncio.get_running_loop()
        sequencer = self._sequencer
        async for delivery in subscription:
            self._emit(sequencer.offer(delivery.events, loop.time()))
            if delivery.missed:
                self._read_at = 0.0
                self._wake.set()
            elif sequencer.has_gap:
                if self._settle_s is not None:
                    self._wake.set()  # PostgreSQL: the poller now waits for the gap's deadline too
                elif self._gap_check_at == math.inf:
                    self._gap_check_at = loop.time() + _GAP_GRACE_S
                    self._wake.set()

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        sequencer = self._sequencer
        while True:
            now = loop.time()
            if now >= self._read_at or (now >= self._gap_check_at and sequencer.has_gap):
                self._gap_check_at = math.inf
                full = await self._read_table()
                self._read_at = loop.time() + (0.0 if full else self._poll_s)
                continue
            if now >= self._gap_check_at:
                self._gap_check_at = math.inf  # the bus filled the gap in the meantime
            self._emit(sequencer.expire(now))
            wake = min(self._read_at, self._gap_check_at, sequencer.deadline() or math.inf)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wake - now))

    async def _read_table(self) -> bool:
        """Read what the table holds after the watermark (and given-up ids); True if there may be more."""
        sequencer = self._sequencer
        skipped = sequencer.skipped_ids()
        try:
            async with self._db.read() as conn:
                rows = await event_store.read_event_log(conn, after_id=sequencer.watermark, limit=_PAGE)
                late = await event_store.read_event_log(conn, after_id=0, ids=skipped) if skipped else []
        except StoreError as error:
            # Live events keep flowing from the bus; the table is looked at again next time.
            _log.warning("event feed: reading the event table failed: %s", error)
            return False
        except Exception:
            # Whatever it was (a pool timeout, a driver bug), the tail must outlive it.
            _log.exception("event feed: reading the event table failed")
            return False
        now = asyncio.get_running_loop().time()
        self._emit(sequencer.offer(late, now) + sequencer.table_read(rows, now))
        return len(rows) == _PAGE


class EventFeed:
    """Every event of the table, for any number of subscribers: history first, then live, gapless.

    Creating a feed also makes ``db`` announce its commits on ``bus`` (see ``quarterdeck.bus.attach``).
    Close it with ``close()`` or ``async with``; a subscriber's iterator should be closed too
    (``contextlib.aclosing``), which ``async for`` does not do when the loop is left early.

    Args:
        poll_s: how often the table is read for events of processes that publish on no bus
        settle_s: PostgreSQL only: how long an id that may still commit holds later ones back (``SETTLE_S``)
        max_pending: live events a subscriber may have queued before it reads the table instead;
            default: the bus's (``QUARTERDECK_BUS_MAX_PENDING``)
    """

    def __init__(
        self, db: Database, bus: EventBus, *, poll_s: float, settle_s: float = SETTLE_S, max_pending: int | None = None
    ) -> None:
        max_pending = bus.max_pending if max_pending is None else max_pending
        if poll_s <= 0 or settle_s < 0 or max_pending < 1:
            raise ValueError("poll_s must be > 0, settle_s >= 0 and max_pending >= 1")
        self.db = db
        self.bus = bus
        self.poll_s = poll_s
        # SQLite commits ids in order, so a table read settles a missing id (see sequencer.py).
        self.settle_s: float | None = None if db.dialect == "sqlite" else settle_s
        self.max_pending = max_pending
        self._tail: _Tail | None = None
        self._tail_lock = asyncio.Lock()
        db.add_commit_listener(bus.publish_nowait)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End every subscription (each one's iterator finishes)."""
        async with self._tail_lock:
            if self._tail is not None:
                tail, self._tail = self._tail, None
                await tail.stop()

    async def subscribe(
        self,
        *,
        run_ids: frozenset[str] | None = None,
        task_id: str | None = None,
        types: frozenset[str] = frozenset(),
        after_id: int = 0,
    ) -> AsyncIterator[EventRecord]:
        """Events with an id above ``after_id`` that match every filter given, oldest first, then live.

        ``run_ids=None`` means every run. Each event comes once, in id order; on PostgreSQL an event
        whose transaction ran past ``settle_s`` may come late, after higher ids (never twice).

        Raises:
            InputError: ``after_id`` is negative
            StoreError: the event table could not be read
        """
        batches = self.subscribe_batches(run_ids=run_ids, task_id=task_id, types=types, after_id=after_id)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()  # type: ignore[attr-defined]

    async def subscribe_batches(
        self,
        *,
        run_ids: frozenset[str] | None = None,
        task_id: str | None = None,
        types: frozenset[str] = frozenset(),
        after_id: int = 0,
    ) -> AsyncIterator[list[EventRecord]]:
        """``subscribe``'s events, in lists of whatever is ready at once (a table page, or the live releases
        queued since the subscriber last looked): one wake-up per batch, not per event. Never empty."""
        if after_id < 0:
            raise InputError(f"after_id must be 0 or more, not {after_id}")
        listener = _Listener(run_ids, task_id, frozenset(types), self.max_pending)
        tail, upto = await self._attach(listener)
        recent: deque[int] = deque(maxlen=_RECENT)
        last = after_id
        try:
            while True:
                while last < upto:
                    async with self.db.read() as conn:
                        rows = await event_store.read_event_log(
                            conn,
                            after_id=last,
                            until_id=upto,
                            run_ids=run_ids,
                            task_id=task_id,
                            types=types,
                            limit=_PAGE,
                        )
                    if rows:
                        recent.extend(event.id for event in rows)
                        yield rows
                    last = rows[-1].id if len(rows) == _PAGE else upto
                queue = listener.queue
                while not listener.lagged:
                    if not queue:
                        listener.wakeup.clear()
                        await listener.wakeup.wait()
                        continue
                    batch: list[EventRecord] = []
                    while queue:
                        event, late = queue.popleft()
                        if late:
                            if event.id in recent:
                                continue
                            recent.append(event.id)
                        elif event.id <= last:
                            continue
                        else:
                            last = event.id
                        batch.append(event)
                    if batch:
                        yield batch
                if self._tail is not tail:
                    return  # the feed was closed
                # Fallen behind: the live queue was dropped; read the table up to where the tail is now.
                upto = tail.attach(listener)
        finally:
            await self._detach(tail, listener)

    async def _attach(self, listener: _Listener) -> tuple[_Tail, int]:
        async with self._tail_lock:
            if self._tail is None:
                tail = _Tail(self.db, self.bus, poll_s=self.poll_s, settle_s=self.settle_s)
                await tail.start()
                self._tail = tail
            return self._tail, self._tail.attach(listener)

    async def _detach(self, tail: _Tail, listener: _Listener) -> None:
        tail.detach(listener)
        async with self._tail_lock:
            # The last subscriber out stops the tail: an idle feed costs nothing.
            if self._tail is tail and not tail.listeners:
                self._tail = None
                await tail.stop()
