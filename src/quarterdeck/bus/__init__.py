"""Live events: a bus that fans committed events out (in-process, or Redis across machines) and the feed over it.

``open_bus(settings)`` picks the bus; ``attach(db, bus)`` makes a database announce every commit's
events on it; ``EventFeed(db, bus, poll_s=…)`` gives subscribers history plus live events, gapless.
"""

from __future__ import annotations

from quarterdeck.bus.base import BusError, BusSubscription, Delivery, EventBus
from quarterdeck.bus.feed import EventFeed
from quarterdeck.bus.memory import MemoryBus
from quarterdeck.bus.redis import RedisBus
from quarterdeck.bus.settings import BusSettings
from quarterdeck.settings import Settings
from quarterdeck.store.database import Database

__all__ = [
    "BusError",
    "BusSettings",
    "BusSubscription",
    "Delivery",
    "EventBus",
    "EventFeed",
    "MemoryBus",
    "RedisBus",
    "attach",
    "open_bus",
]


def open_bus(settings: Settings, bus_settings: BusSettings | None = None) -> EventBus:
    """The Redis bus when ``QUARTERDECK_REDIS_URL`` is set, else the in-process one.

    Raises:
        BusError: the Redis URL is not one (nothing connects until the bus is used)
    """
    bus_settings = bus_settings or BusSettings()
    if settings.redis_url:
        return RedisBus(
            settings.redis_url,
            prefix=bus_settings.prefix,
            stream_maxlen=bus_settings.stream_maxlen,
            max_pending=bus_settings.max_pending,
        )
    return MemoryBus(max_pending=bus_settings.max_pending)


def attach(db: Database, bus: EventBus) -> None:
    """Publish the events of every transaction ``db`` commits on ``bus`` (idempotent; an EventFeed does it too)."""
    db.add_commit_listener(bus.publish_nowait)
