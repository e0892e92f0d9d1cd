"""Appending to the Redis stream the moment a transaction commits, without waiting for Redis.

A commit listener runs synchronously inside ``Database.transaction()``. Going through redis-py
from there means a task hop, and a pipeline that waits for its replies before the next batch can
be sent: while the loop is busy (an engine committing, a feed delivering) every batch queued
behind an unanswered pipeline waits with it. Here the ``XADD`` is written to the socket in the
listener itself; a reader task takes the replies in order (Redis answers the commands of one
connection in the order they were sent) and settles each batch's future.

Delivery is at least once: a batch whose reply never came (the connection broke) is sent again
after the reconnect, and the feed drops an id it has already released (see ``sequencer.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from typing import Any

from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from quarterdeck.bus.base import BusError

__all__ = ["StreamAppender"]

_log = logging.getLogger(__name__)

#: reconnect back-off bounds
_BACKOFF_MIN_S = 0.05
_BACKOFF_MAX_S = 2.0


def _command(*parts: bytes | str | int) -> bytes:
    """One command in RESP, the protocol Redis speaks."""
    chunks = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        chunks.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(chunks)


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    """One reply to a command that answers a status or a bulk string; an error reply raises BusError."""
    line = await reader.readuntil(b"\r\n")
    kind, body = line[:1], line[1:-2]
    if kind == b"$":
        size = int(body)
        return b"" if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind in (b"+", b":"):
        return body
    if kind == b"-":
        raise BusError(f"Redis refused a command: {body.decode(errors='replace')}")
    raise BusError(f"unexpected reply from Redis: {line[:40]!r}")


class StreamAppender:
    """Sends ``XADD stream MAXLEN ~ n * field data`` for every batch handed over, in order.

    Args:
        url: the Redis URL (``redis://``, ``rediss://`` or ``unix://``, with user, password, db)
        stream: the stream's key
        maxlen: the stream's approximate length bound
        max_queued: batches held while Redis is away or slow; beyond that the oldest is dropped
    """

    def __init__(
        self, url: str, stream: str, *, field: bytes, maxlen: int, max_queued: int, label: str | None = None
    ) -> None:
        #: how the server is named in messages (without its password)
        self._label = label or "Redis"
        try:
            self._params: dict[str, Any] = dict(parse_url(url))
        except ValueError as error:
            raise BusError(f"invalid Redis URL: {error}") from None
        self._stream = stream.encode()
        #: the connection's name in ``CLIENT LIST``
        self.client_name = f"quarterdeck-publisher:{stream}".replace(" ", "_")
        self._field = field
        self._maxlen = maxlen
        self._max_queued = max_queued
        #: written, waiting for their reply (in send order)
        self._unanswered: deque[tuple[bytes, asyncio.Future[None] | None]] = deque()
        #: not written yet: no connection
        self._waiting: deque[tuple[bytes, asyncio.Future[None] | None]] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._runner: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        #: the last attempt to connect failed
        self._unreachable = asyncio.Event()
        self._closed = False

    def send(self, data: bytes, done: asyncio.Future[None] | None) -> None:
        """Write the batch now if connected (else queue it); ``done`` is settled by Redis's reply."""
        if self._closed:
            raise BusError("the event bus is closed")
        self._idle.clear()
        item = (data, done)
        writer = self._writer
        if writer is not None and not writer.is_closing():
            self._unanswered.append(item)
            writer.write(self._xadd(data))
            return
        if len(self._waiting) >= self._max_queued:
            _, dropped = self._waiting.popleft()
            _log.warning("event bus: Redis is not keeping up; dropped a queued batch (feeds read it from the table)")
            if dropped is not None and not dropped.done():
                dropped.set_exception(BusError("dropped: Redis did not keep up"))
        self._waiting.append(item)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="quarterdeck-bus-append")

    async def drain(self, timeout_s: float) -> None:
        """Wait until every batch handed over has been answered, Redis proved unreachable, or ``timeout_s`` passed."""
        if self._idle.is_set() or self._unreachable.is_set():
            return  # Redis is away: what waits would wait for the reconnect; the table has it all
        waits = [asyncio.ensure_future(self._idle.wait()), asyncio.ensure_future(self._unreachable.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        error = BusError("the event bus is closed")
        for _, done in (*self._unanswered, *self._waiting):
            if done is not None and not done.done():
                done.set_exception(error)
        self._unanswered.clear()
        self._waiting.clear()
        self._idle.set()

    def _xadd(self, data: bytes) -> bytes:
        return _command(b"XADD", self._stream, b"MAXLEN", b"~", self._maxlen, b"*", self._field, data)

    async def _run(self) -> None:
        """Connect, send what waits, read replies; on a broken connection resend what was unanswered."""
        backoff = _BACKOFF_MIN_S
        while self._waiting or self._unanswered:
            try:
                reader, writer = await self._connect()
            except (OSError, BusError, asyncio.IncompleteReadError) as error:
                _log.warning("event bus: cannot reach %s (%s); retrying in %.2fs", self._label, error, backoff)
                self._unreachable.set()
                self._fail_waiting_once(error)
                await asyncio.sleep(backoff)  # a reconnect back-off, not synchronisation
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            backoff = _BACKOFF_MIN_S
            self._unreachable.clear()
            # What was unanswered on a broken connection goes first, in its order.
            self._waiting.extendleft(reversed(self._unanswered))
            self._unanswered.clear()
            try:
                await self._serve(reader, writer)
            except (OSError, asyncio.IncompleteReadError) as error:
                _log.warning("event bus: the connection to Redis broke (%s); reconnecting", error)
            finally:
                self._writer = None
                writer.close()
        self._idle.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while self._waiting:
            item = self._waiting.popleft()
            self._unanswered.append(item)
            writer.write(self._xadd(item[0]))
        self._writer = writer
        while True:
            if not self._unanswered:
                self._idle.set()
            reply_error: BusError | None = None
            try:
                await _read_reply(reader)
            except BusError as error:
                reply_error = error
            if not self._unanswered:
                raise OSError("Redis answered a command that was not sent")
            _, done = self._unanswered.popleft()
            if reply_error is not None:
                _log.warning("event bus: publishing a batch failed: %s", reply_error)
            if done is not None and not done.done():
                if reply_error is None:
                    done.set_result(None)
                else:
                    done.set_exception(reply_error)

    def _fail_waiting_once(self, error: BaseException) -> None:
        """Whoever awaits a batch learns that Redis is away; the batch itself stays queued."""
        failure = BusError(f"{self._label} is unreachable: {error}")
        for _, done in self._waiting:
            if done is not None and not done.done():
                done.set_exception(failure)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        params = self._params
        connection_class = params.get("connection_class")
        if connection_class is UnixDomainSocketConnection:
            reader, writer = await asyncio.open_unix_connection(params["path"])
        else:
            context = ssl.create_default_context() if connection_class is SSLConnection else None
            reader, writer = await asyncio.open_connection(
                params.get("host", "localhost"), params.get("port", 6379), ssl=context
            )
        try:
            setup: list[bytes] = []
            if params.get("password") is not None:
                user = params.get("username")
                setup.append(
                    _command(b"AUTH", user, params["password"]) if user else _command(b"AUTH", params["password"])
                )
            if params.get("db"):
                setup.append(_command(b"SELECT", params["db"]))
            # Named, so that an operator (and a test) can tell the publisher in CLIENT LIST.
            setup.append(_command(b"CLIENT", b"SETNAME", self.client_name))
            writer.write(b"".join(setup))
            for _ in setup:
                await _read_reply(reader)
        except BaseException:
            writer.close()
            raise
        return reader, writer
