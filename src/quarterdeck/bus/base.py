"""The event bus port: what a bus does (publish, subscribe, close) and what a subscriber receives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from quarterdeck.errors import BusError
from quarterdeck.store.records import EventRecord

__all__ = ["BusError", "BusSubscription", "Delivery", "EventBus"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A batch of published events, in the order they were published."""

    events: tuple[EventRecord, ...]
    #: events were lost before this batch (the subscriber fell behind, or the bus reconnected):
    #: whoever needs every event reads them from the event table
    missed: bool = False


class BusSubscription(Protocol):
    """Deliveries of everything published after the subscription started; ``async with`` starts and ends it."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[Delivery]: ...


class EventBus(Protocol):
    """Fans committed events out to every subscriber, in this process or (Redis) in any process.

    A bus is best effort by design: it never blocks or fails a publisher, and a subscriber that
    falls behind is told so (``Delivery.missed``) rather than slowing anyone down. The event table
    is the record; ``EventFeed`` turns bus plus table into a gapless feed.
    """

    #: deliveries a subscriber may have queued before it is told it fell behind
    max_pending: int

    async def publish(self, events: Sequence[EventRecord]) -> None:
        """Publish and wait until the bus has taken the events (raises BusError if it cannot)."""
        ...

    def publish_nowait(self, events: Sequence[EventRecord]) -> None:
        """Publish without waiting; failures are logged. This is the database's commit listener."""
        ...

    def subscribe(self) -> BusSubscription:
        """A new subscription; it receives what is published once it has been entered."""
        ...

    async def close(self) -> None:
        """Stop publishing (after flushing what is queued) and end every subscription."""
        ...
