"""The in-process bus: every subscriber gets its own bounded queue; nobody waits for a slow one."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Self

from quarterdeck.bus import wire
from quarterdeck.bus.base import Delivery
from quarterdeck.store.records import EventRecord

__all__ = ["MemoryBus", "MemorySubscription"]


class MemorySubscription:
    """One subscriber's queue of deliveries; when it overflows, the queue is emptied and marked missed."""

    def __init__(self, bus: MemoryBus, max_pending: int) -> None:
        self._bus = bus
        self._max_pending = max_pending
        self._queue: deque[Delivery] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    async def __aenter__(self) -> Self:
        self._bus._subscriptions.add(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._bus._subscriptions.discard(self)
        self._closed = True
        self._wakeup.set()

    def put(self, events: tuple[EventRecord, ...]) -> None:
        if len(self._queue) >= self._max_pending:
            # Dropping what is queued (not the newest) keeps the subscriber's view current, and it
            # learns at once that it has to look in the table.
            self._queue.clear()
            self._queue.append(Delivery((), missed=True))
        self._queue.append(Delivery(events))
        self._wakeup.set()

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()


class MemoryBus:
    """The embedded default: publishing fans events out to this process's subscribers, synchronously."""

    def __init__(self, *, max_pending: int = 1000) -> None:
        self.max_pending = max_pending
        self._subscriptions: set[MemorySubscription] = set()

    async def publish(self, events: Sequence[EventRecord]) -> None:
        self.publish_nowait(events)

    def publish_nowait(self, events: Sequence[EventRecord]) -> None:
        if not events or not self._subscriptions:
            return
        batch = wire.normalised(events)
        for subscription in tuple(self._subscriptions):
            subscription.put(batch)

    def subscribe(self) -> MemorySubscription:
        return MemorySubscription(self, self.max_pending)

    async def close(self) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.close()
