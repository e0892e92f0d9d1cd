"""Git, called with argument lists only (never through a shell), failures translated once here."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.errors import GitLockError, NotARepositoryError, WorkspaceError

__all__ = ["GitResult", "git", "lock_file", "open_repository"]

#: Keep git from asking anyone anything, and from reading the user's pager or editor.
_QUIET_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_PAGER": "cat", "LC_ALL": "C"}

#: how git reports a lock file it could not take (``LC_ALL=C``)
_LOCKED = re.compile(r"Unable to create '([^']+\.lock)': File exists")


@dataclass(frozen=True, slots=True)
class GitResult:
    """What one git command printed and returned."""

    returncode: int
    stdout: str
    stderr: str


async def git(
    cwd: Path,
    *args: str,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    ok_codes: Sequence[int] = (0,),
) -> GitResult:
    """Run ``git <args>`` in ``cwd``; raise WorkspaceError with git's message on an unexpected exit code."""
    full_env = {**os.environ, **_QUIET_ENV, **(env or {})}
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=full_env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise WorkspaceError(f"cannot run git in {cwd}: {exc.strerror}; install git") from None
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    result = GitResult(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
    if check and result.returncode not in ok_codes:
        message = result.stderr.strip() or result.stdout.strip() or f"exit code {result.returncode}"
        if (locked := lock_file(result)) is not None:
            raise GitLockError(f"git {args[0]} failed in {cwd}: {message}", locked)
        raise WorkspaceError(f"git {args[0]} failed in {cwd}: {message}")
    return result


def lock_file(result: GitResult) -> str | None:
    """The lock file a failed command found held, if that is why it failed."""
    found = _LOCKED.search(result.stderr)
    return found.group(1) if found else None


async def open_repository(path: Path) -> Path:
    """Return the top level of the git repository at ``path``, or raise NotARepositoryError."""
    if not path.is_dir():
        raise NotARepositoryError(f"{path} is not a directory")
    result = await git(path, "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise NotARepositoryError(f"{path} is not a git repository (run `git init` there first)")
    top = Path(result.stdout.strip())
    head = await git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        raise NotARepositoryError(f"{top} has no commits yet; commit something first")
    return top
