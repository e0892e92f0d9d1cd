"""The local relay: worker processes that ``quarterdeck serve`` started push their committed events to its API
process over a Unix socket, so its live streams get them at once without Redis (and without reading the table
every few milliseconds).

Best effort, like every bus: a batch that cannot be written at once (not connected yet, the socket's buffer
full) is dropped, and the API's feed finds it in the event table at its next poll. The socket lives in a
directory only this user can enter (``RelayServer.open``): nobody else can push events into the feed.
Frames are a 4-byte big-endian length and a ``wire.encode`` batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from quarterdeck.bus import wire
from quarterdeck.bus.base import EventBus
from quarterdeck.store.records import EventRecord

__all__ = ["RelayPublisher", "RelayServer"]

_log = logging.getLogger(__name__)

#: bytes a publisher lets wait in its socket's buffer before it drops batches (the table has them)
_MAX_BUFFER = 4 * 2**20
#: the largest frame a server accepts
_MAX_FRAME = 64 * 2**20
#: how long a publisher waits before it tries to connect again
_RETRY_S = 0.5


class RelayServer:
    """Listens on a Unix socket in a private directory; every batch received is published on ``bus``."""

    def __init__(self, bus: EventBus, path: Path) -> None:
        self.bus = bus
        self.path = path
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    def private_path(cls) -> Path:
        """A socket path in a new directory only this user can enter (removed by ``close``)."""
        return Path(tempfile.mkdtemp(prefix="quarterdeck-relay-")) / "events.sock"

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        shutil.rmtree(self.path.parent, ignore_errors=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                if size > _MAX_FRAME:
                    _log.warning("event relay: a frame of %d bytes; closing the connection", size)
                    return
                events = wire.decode(await reader.readexactly(size))
                self.bus.publish_nowait(events)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("event relay: a frame that is not an event batch (%s); closing the connection", exc)
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)


class RelayPublisher:
    """A worker process's commit listener: each committed batch written to the relay socket, never waited for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Task[None] | None = None
        #: batches dropped (not connected, or the buffer full): the API's feed reads them from the table
        self.dropped = 0

    def __call__(self, events: Sequence[EventRecord]) -> None:
        if not events:
            return
        writer = self._writer
        if writer is None or writer.is_closing():
            self.dropped += 1
            self._connect_soon()
            return
        if writer.transport.get_write_buffer_size() > _MAX_BUFFER:
            self.dropped += 1
            return
        data = wire.encode(events)
        writer.write(len(data).to_bytes(4, "big") + data)

    async def connect(self) -> None:
        """Connect now (when the socket is there), so that the first commits are not dropped."""
        self._connect_soon()
        assert self._connecting is not None
        await asyncio.shield(self._connecting)

    def _connect_soon(self) -> None:
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self._connect(), name="quarterdeck-relay")

    async def _connect(self) -> None:
        try:
            _, self._writer = await asyncio.open_unix_connection(str(self.path))
        except OSError as exc:
            self._writer = None
            _log.debug("event relay: %s not reachable (%s); the feed reads the table", self.path, exc)
            await asyncio.sleep(_RETRY_S)  # no new attempt until then: not one per commit

    async def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
