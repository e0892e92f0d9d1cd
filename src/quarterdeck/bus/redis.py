"""The Redis bus: one Redis stream shared by every process, so all of them see one live feed.

Why a stream and not pub/sub: a stream entry has an id, so a subscriber whose connection broke
resumes ``XREAD`` right where it stopped, and Redis never drops a slow reader (pub/sub
disconnects it when its output buffer fills and loses whatever was in flight). ``MAXLEN ~``
bounds memory; anything older is in the event table. Each published batch (the events of one
transaction) is one entry, so the events of a transaction travel together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from quarterdeck.bus import wire
from quarterdeck.bus.appender import StreamAppender
from quarterdeck.bus.base import BusError, Delivery
from quarterdeck.store.records import EventRecord

__all__ = ["RedisBus", "RedisSubscription", "mask_redis_url"]

_log = logging.getLogger(__name__)

#: the field of a stream entry that holds the encoded batch
_FIELD = b"events"
#: how long one XREAD blocks: well under redis-py's default socket timeout (5 s), which would cut it off
_BLOCK_MS = 1_000
#: reconnect back-off bounds
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0
#: batches a publisher queues while Redis is away, before it drops the oldest
_MAX_QUEUED = 10_000
#: how long closing waits for Redis to answer what was published
_CLOSE_DRAIN_S = 5.0


def mask_redis_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    head, sep, tail = url.rpartition("@")
    if not sep:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user + ':' if user else ':'}***@{tail}"


@contextlib.contextmanager
def _translate_errors(url: str) -> Iterator[None]:
    try:
        yield
    except (redis_errors.RedisError, OSError) as error:
        raise BusError(f"Redis at {mask_redis_url(url)} is unreachable or unusable: {error}") from error


class RedisSubscription:
    """Reads the stream from the entry after the newest one at entry; reconnects on its own."""

    def __init__(self, bus: RedisBus) -> None:
        self._bus = bus
        self._last_id: bytes | str | None = None
        self._missed = False
        self._closed = False

    async def __aenter__(self) -> Self:
        try:
            newest = await self._bus.client.xrevrange(self._bus.stream, count=1)
        except (redis_errors.RedisError, OSError) as error:
            # Not fatal: reading reconnects, and its first delivery says that events were missed.
            _log.warning("event bus: Redis at %s is unreachable: %s", mask_redis_url(self._bus.url), error)
            self._last_id, self._missed = b"$", True
        else:
            self._last_id = newest[0][0] if newest else b"0-0"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        if self._last_id is None:
            raise RuntimeError("enter the subscription (async with) before iterating it")
        missed = self._missed
        backoff = _BACKOFF_MIN_S
        while not (self._bus.closed or self._closed):
            try:
                reply: Any = await self._bus.client.xread({self._bus.stream: self._last_id}, block=_BLOCK_MS)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py may turn a cancelled read into a ConnectionError: the cancel still wins.
                    raise asyncio.CancelledError from error
                if self._bus.closed or self._closed:
                    return
                _log.warning("event bus: reading %s failed (%s); retrying in %.2fs", self._bus.stream, error, backoff)
                missed = True
                await asyncio.sleep(backoff)  # a reconnect back-off, not synchronisation
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            backoff = _BACKOFF_MIN_S
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    try:
                        events = wire.decode(fields[_FIELD])
                    except (KeyError, ValueError, TypeError) as error:
                        _log.warning("event bus: skipping malformed entry %s: %s", entry_id, error)
                        missed = True
                        continue
                    yield Delivery(events, missed=missed)
                    missed = False


class RedisBus:
    """Publishes each batch with ``XADD … MAXLEN ~``; subscribers block in ``XREAD`` on their own connection.

    ``publish_nowait`` (the commit listener) writes the ``XADD`` to the publishing connection at
    once and does not wait for the reply (``appender.py``), so a transaction never waits for Redis,
    batches keep their order, and none waits behind another's round trip.
    """

    def __init__(
        self, url: str, *, prefix: str = "quarterdeck:", stream_maxlen: int = 10_000, max_pending: int = 1_000
    ) -> None:
        self.url = url
        #: a stream reader is never dropped by Redis; this bounds the queues of the feeds built on this bus
        self.max_pending = max_pending
        self.stream = f"{prefix}events"
        self.stream_maxlen = stream_maxlen
        try:
            self.client: aioredis.Redis = aioredis.Redis.from_url(url)
        except ValueError as error:
            raise BusError(
                f"invalid Redis URL {mask_redis_url(url)!r}: {error} (expected redis://HOST:PORT/DB)"
            ) from None
        self.closed = False
        self._appender = StreamAppender(
            url,
            self.stream,
            field=_FIELD,
            maxlen=stream_maxlen,
            max_queued=_MAX_QUEUED,
            label=f"Redis at {mask_redis_url(url)}",
        )

    async def ping(self) -> None:
        """Check that Redis answers (raises BusError with the reason if it does not)."""
        with _translate_errors(self.url):
            await self.client.ping()

    async def publish(self, events: Sequence[EventRecord]) -> None:
        if not events:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._appender.send(wire.encode(events), done)
        await done

    def publish_nowait(self, events: Sequence[EventRecord]) -> None:
        # After close, commits of a database still attached to this bus are simply not announced.
        if events and not self.closed:
            self._appender.send(wire.encode(events), None)

    def subscribe(self) -> RedisSubscription:
        return RedisSubscription(self)

    async def close(self) -> None:
        await self._appender.drain(_CLOSE_DRAIN_S)
        await self._appender.close()
        self.closed = True
        await self.client.aclose()
