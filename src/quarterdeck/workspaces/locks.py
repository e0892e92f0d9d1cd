"""Repository locks: serialise git operations that must not interleave, across tasks and processes.

A lock is the file ``quarterdeck-<name>.lock`` in the repository's common ``.git`` directory, held with
``flock``. Waiting never blocks a thread: the coroutines of one process queue on an asyncio lock, and the
one at the head of the queue polls a non-blocking ``flock`` with backoff (a blocking ``flock`` on the
default thread pool deadlocked many slots: the waiters held every thread, and the holder needed one more).

The holder writes who it is into the lock file and empties it on release. A record still there when
the lock is next taken means its holder died inside (``kill -9``: the kernel released the ``flock``),
and git's own lock files it declared (``Held.guard``: the ref it was moving, ``shallow.lock`` …) are
left over from it; they are removed before the new holder goes on, so no later git command fails on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from quarterdeck.workspaces.git import git

__all__ = ["Held", "common_dir", "repo_lock"]

log = logging.getLogger(__name__)

#: the longest pause between two tries of a held ``flock``
_POLL_MAX_S = 0.05

#: repositories' common directories found so far (a git process each, otherwise once per lock taken)
_common_dirs: dict[Path, Path] = {}

#: in-process queues, per event loop and lock file (an asyncio lock belongs to one loop)
_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Path, asyncio.Lock]] = weakref.WeakKeyDictionary()


class Held:
    """A held repository lock; ``guard`` names git lock files a death inside would leave behind."""

    def __init__(self, fd: int, common: Path, guards: Iterable[str]) -> None:
        self._fd = fd
        self.common = common
        self._guards = list(guards)
        self._write()

    def guard(self, path: str | Path) -> None:
        """Declare a git lock file (absolute, or relative to the common directory) this holder may create."""
        self._guards.append(str(path))
        self._write()

    def _write(self) -> None:
        record = json.dumps({"pid": os.getpid(), "since": time.time(), "guards": self._guards}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, record, 0)

    def release(self) -> None:
        os.ftruncate(self._fd, 0)


async def common_dir(repo: Path) -> Path:
    """The repository's common ``.git`` directory (shared by all its worktrees); asked of git once per path
    and process (and again if it is gone: a repository deleted and made again)."""
    known = _common_dirs.get(repo)
    if known is not None and known.is_dir():
        return known
    common = Path((await git(repo, "rev-parse", "--git-common-dir")).stdout.strip())
    common = common if common.is_absolute() else repo / common
    _common_dirs[repo] = common
    return common


@contextlib.asynccontextmanager
async def repo_lock(repo: Path, name: str, *, guards: Iterable[str] = ()) -> AsyncIterator[Held]:
    """Hold the repository's lock ``name``; ``guards`` as for ``Held.guard``."""
    common = await common_dir(repo)
    path = common / f"quarterdeck-{name}.lock"
    queues = _queues.setdefault(asyncio.get_running_loop(), {})
    queue = queues.setdefault(path, asyncio.Lock())
    async with queue:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            await _flock(fd)
            try:
                _clear_left_over(fd, common, path)
                held = Held(fd, common, guards)
                try:
                    yield held
                finally:
                    held.release()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


async def _flock(fd: int) -> None:
    """Take the ``flock`` without blocking a thread: try, and on contention sleep a growing step."""
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)


def _clear_left_over(fd: int, common: Path, path: Path) -> None:
    """If the previous holder died inside, remove the git lock files it declared."""
    raw = os.pread(fd, 65536, 0)
    if not raw:
        return
    try:
        record = json.loads(raw)
        guards = [str(g) for g in record.get("guards", [])]
        pid = record.get("pid")
    except (ValueError, AttributeError):
        guards, pid = [], None
    for guard in guards:
        stale = common / guard  # an absolute guard stays absolute
        if stale.name.endswith(".lock") and stale.exists():
            log.warning("removing %s, left by process %s that died holding %s", stale, pid, path.name)
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
