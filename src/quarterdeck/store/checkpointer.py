"""SQLite's WAL checkpoints, on a thread of their own instead of inside a commit on the event loop.

SQLite's statements run on the event loop's thread (``sqlite_driver.py``). By default the commit
that grows the WAL past 1,000 pages also checkpoints it: copies the pages into the database file
and fsyncs it. On this project's machines that fsync took 100-300 ms while the page cache was
writing back (measured: the longest commit of 3,000 went from 162-305 ms to 34-61 ms without it,
and the in-process feed's slowest delivery from 117-132 ms to 4-6 ms), and for that long the
loop — the engine, the API, every live feed of the process — stood still.

So connections are opened with ``wal_autocheckpoint=0`` (``Database``) and a ``Checkpointer``
thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection every ``interval_s``. The
sqlite3 module releases the GIL while SQLite works, so the loop keeps turning. PASSIVE never
waits for readers or writers: it copies what it can, and the WAL is reused from its start once
everything in it is in the database file (as with the automatic checkpoint, which is PASSIVE too).
Every process with the database open checkpoints; concurrent checkpoints are harmless (one gets
SQLITE_BUSY and tries again next time).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

__all__ = ["Checkpointer"]

_log = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoints the WAL of ``path`` every ``interval_s`` on a daemon thread, from ``start()`` to ``stop()``."""

    def __init__(self, path: str, *, uri: bool = False, interval_s: float = 1.0) -> None:
        self.path = path
        self.uri = uri
        self.interval_s = interval_s
        #: checkpoints run (whether or not they had pages to copy)
        self.runs = 0
        #: set after each checkpoint the thread ran (clear it to wait for the next one)
        self.ran = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="quarterdeck-sqlite-checkpoint", daemon=True)
                self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread and wait for it; a checkpoint under way finishes first."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()

    def checkpoint(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, WAL pages, pages copied), as SQLite reports it."""
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        busy, pages, copied = row
        return int(busy), int(pages), int(copied)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(self.path, uri=self.uri, isolation_level=None)
            while not self._stopping.wait(self.interval_s):
                try:
                    self.checkpoint(connection)
                    self.ran.set()
                except sqlite3.Error as error:
                    # Busy or locked: the next turn tries again; the WAL only grows until then.
                    _log.debug("sqlite checkpoint of %s skipped: %s", self.path, error)
        except sqlite3.Error as error:
            _log.warning("sqlite checkpoints of %s stopped: %s", self.path, error)
        finally:
            if connection is not None:
                connection.close()
