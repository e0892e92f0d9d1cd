"""Repository locks: serialise git operations that must not interleave, across threads and processes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from quarterdeck.workspaces.git import git

__all__ = ["repo_lock"]


@contextlib.asynccontextmanager
async def repo_lock(repo: Path, name: str) -> AsyncIterator[None]:
    """Hold the lock file ``quarterdeck-<name>.lock`` in the repository's common ``.git`` directory."""
    common = Path((await git(repo, "rev-parse", "--git-common-dir")).stdout.strip())
    if not common.is_absolute():
        common = repo / common
    fd = os.open(common / f"quarterdeck-{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
