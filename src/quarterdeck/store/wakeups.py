"""Waking idle workers of other processes when tasks become ready.

A transaction that makes tasks claimable (a plan submitted, dependants released beyond what it claimed
itself, a run resumed, a task re-queued) calls ``announce_ready``; the workers that listen
(``ReadyListener``) look for work at once instead of at their next poll. Announcements are delivered
at the transaction's commit, never after a rollback. The poll stays as the safety net.

* PostgreSQL: ``NOTIFY quarterdeck_ready`` in the caller's transaction; each worker listens on a
  connection of its own (asyncpg's public ``add_listener``).
* SQLite (a database file: every process that uses it is on this machine): a doorbell of named pipes
  in ``<database file>-wake/``. Each listening worker makes a FIFO there and reads it on its event
  loop; the transaction is marked (``RING`` in the connection's ``info``), and after its commit the
  store writes a byte into every FIFO of the folder (``ring``). A FIFO whose reader is gone (its process
  died) refuses the write with ``ENXIO`` and is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["CHANNEL", "RING", "ReadyListener", "announce_ready", "ring", "wake_dir"]

log = logging.getLogger(__name__)

CHANNEL = "quarterdeck_ready"
_NOTIFY = sa.select(sa.func.pg_notify(sa.literal(CHANNEL), sa.literal("")))
#: the key in a SQLite connection's ``info`` that says its transaction announced ready tasks
RING = "quarterdeck_ring"


async def announce_ready(conn: AsyncConnection, dialect: str) -> None:
    """Tell the listening workers, at this transaction's commit, that tasks may be ready."""
    if dialect == "postgresql":
        await conn.execute(_NOTIFY)
    else:  # rung by ``Database`` once the transaction has committed (``ring``)
        conn.info[RING] = True


def wake_dir(url: str) -> Path | None:
    """The doorbell folder of a SQLite database file (None for PostgreSQL, memory and URI databases)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    path = Path(database).resolve()
    return path.with_name(f"{path.name}-wake")


def ring(directory: Path) -> None:
    """Write a byte into every listener's FIFO in ``directory``; never raises (a commit has happened)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return  # nobody listens
    for name in names:
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO nobody reads: its worker is gone
                with contextlib.suppress(OSError):
                    os.unlink(path)
            continue
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b"\0")
        except OSError:
            pass  # full: that worker has a wake-up pending already
        finally:
            os.close(fd)


class ReadyListener:
    """Calls ``wake`` whenever a transaction announced ready tasks (see the module's docstring)."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self.url = url
        self.wake = wake
        self._conn: Any = None
        #: SQLite: this listener's FIFO and its open descriptor
        self._fifo: Path | None = None
        self._fd: int | None = None

    async def start(self) -> bool:
        """Listen; False (and the worker keeps polling) when there is nothing to listen to or it failed."""
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite":
            return self._start_fifo()
        if parsed.get_backend_name() not in ("postgresql", "postgres"):
            return False
        import asyncpg  # type: ignore[import-untyped]

        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._conn = await asyncpg.connect(dsn)
            await self._conn.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("not listening for ready tasks (polling instead): %s", exc)
            await self.stop()
            return False
        return True

    def _start_fifo(self) -> bool:
        directory = wake_dir(self.url)
        if directory is None:
            return False
        fifo = directory / f"{os.getpid()}-{secrets.token_hex(4)}"
        try:
            directory.mkdir(mode=0o700, exist_ok=True)
            os.mkfifo(fifo, 0o600)
            # Read and write: the FIFO never reads as closed, and opening it does not wait for a writer.
            self._fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("not listening for ready tasks (polling instead): %s", exc)
            with contextlib.suppress(OSError):
                fifo.unlink()
            return False
        self._fifo = fifo
        asyncio.get_running_loop().add_reader(self._fd, self._rung)
        return True

    def _rung(self) -> None:
        assert self._fd is not None
        with contextlib.suppress(BlockingIOError):
            while os.read(self._fd, 4096):
                pass
        self.wake()

    def _notified(self, *_: object) -> None:
        self.wake()

    async def stop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        fifo, self._fifo = self._fifo, None
        if fifo is not None:
            with contextlib.suppress(OSError):
                fifo.unlink()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except Exception as exc:  # closing a broken connection: nothing left to keep
                log.debug("closing the listener connection: %s", exc)
