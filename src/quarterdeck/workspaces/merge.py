"""The merge train: land a task's branch on the integration branch, one at a time, atomically.

The merge never touches a working tree: ``git merge-tree --write-tree`` computes the result (and
reports conflicts before anything moves), ``git commit-tree`` writes the new commit, an optional
check runs on that commit (in a scratch worktree the caller provides), and ``git update-ref``
moves the branch only if nobody else moved it in between. The ``rebase`` strategy replays each of the
task's commits in turn, still without a working tree (see :func:`_replay`). Landings into one repository are
serialised by a lock file, so they happen in the order tasks finish — which respects dependencies,
because a task only starts after everything it depends on has landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from quarterdeck.errors import GitLockError, RepositoryUnavailable, WorkspaceError
from quarterdeck.workspaces import locks, worktrees
from quarterdeck.workspaces.git import git, lock_file
from quarterdeck.workspaces.remote import Remote

__all__ = ["MergeResult", "Strategy", "land"]

log = logging.getLogger(__name__)


class Strategy(StrEnum):
    """How a task's branch lands on the integration branch."""

    #: one commit per task with the task commit's message and author (the default)
    SQUASH = "squash"
    #: a merge commit whose second parent is the task's branch head
    MERGE = "merge"
    #: the task's commits replayed one by one on top of the integration branch (linear history)
    REBASE = "rebase"


@dataclass(frozen=True, slots=True)
class MergeResult:
    """A landed commit, or the paths that conflict; ``head`` is where the branch stood."""

    commit: str | None
    head: str
    conflicts: tuple[str, ...] = field(default=())
    #: the branch already held these changes; nothing was written
    already: bool = False

    @property
    def ok(self) -> bool:
        return self.commit is not None


async def land(
    repo: Path,
    branch: str,
    commit: str,
    *,
    strategy: Strategy = Strategy.SQUASH,
    check: Callable[[str], Awaitable[None]] | None = None,
    remote: Remote | None = None,
) -> MergeResult:
    """Land ``commit`` on ``branch``; ``check(new_commit)`` runs before the branch moves and may raise.

    With a ``remote`` (``repo`` is its cache), the branch lands on the remote by compare-and-swap on the head the
    cache holds: when another machine moved it since, the push is refused, the branch fetched, and the merge
    computed and checked again on what it holds now, until the push holds (one landing per task, checks on the
    result; a conflict is reported only as the remote's head has it).

    Raises:
        WorkspaceError: git failed, or the branch moved under the lock (someone bypassed the train).
        GitLockError: the branch's ref stayed locked by someone else for ``_LOCK_PATIENCE_S``.
        RepositoryUnavailable: the remote could not be reached, or kept moving for ``_SWAP_TRIES`` tries.
    """
    # A landing killed while moving the branch leaves git's ref lock behind: cleared by the next holder.
    async with locks.repo_lock(repo, "merge", guards=(f"refs/heads/{branch}.lock", "shallow.lock")) as held:
        # Optimistic: the cache's head was fetched before the attempt (and moved by this machine's own
        # landings); a refused push says it is stale, and only then is it fetched.
        fetched = remote is None
        for _ in range(_SWAP_TRIES):
            head = await worktrees.resolve_commit(repo, f"refs/heads/{branch}")
            computed = await _compute(repo, head, commit, strategy)
            if isinstance(computed, MergeResult):
                if not computed.ok and not fetched and remote is not None:
                    # a conflict is judged on what the remote holds now, never on a stale head
                    await remote.fetch(f"+refs/heads/{branch}:refs/heads/{branch}")
                    fetched = True
                    continue
                return computed
            new = computed
            if check is not None:
                await check(new)
            if remote is None:
                await _move(repo, branch, new, head, commit)
            elif not await remote.swap(branch, new, head):
                log.info("%s moved on the remote while landing %s: again on its new head", branch, commit[:12])
                await remote.fetch(f"+refs/heads/{branch}:refs/heads/{branch}")
                fetched = True
                continue
            checkout = await worktrees.checked_out_at(repo, branch)
            if checkout is not None:
                index = (await git(checkout, "rev-parse", "--path-format=absolute", "--git-path", "index.lock")).stdout
                held.guard(index.strip())
                # Bring a checked-out integration branch's files along (two-way, keeps local edits safe).
                await git(checkout, "read-tree", "-m", "-u", head, new)
            return MergeResult(commit=new, head=head)
    assert remote is not None
    raise RepositoryUnavailable(f"{branch} kept moving on {remote.url}: {_SWAP_TRIES} tries to land", remote.url)


async def _compute(repo: Path, head: str, commit: str, strategy: Strategy) -> str | MergeResult:
    """The commit that lands ``commit`` on ``head``, or the result to report at once (conflicts, already there)."""
    if strategy is Strategy.REBASE:
        replayed = await _replay(repo, head, commit)
        if isinstance(replayed, tuple):
            return MergeResult(commit=None, head=head, conflicts=replayed)
        new = replayed
        tree = (await git(repo, "rev-parse", f"{new}^{{tree}}")).stdout.strip()
    else:
        merged = await _merge_trees(repo, head, commit)
        if isinstance(merged, tuple):
            return MergeResult(commit=None, head=head, conflicts=merged)
        tree = merged
    if tree == (await git(repo, "rev-parse", f"{head}^{{tree}}")).stdout.strip():
        # Nothing to add: already landed (an attempt that died after moving the branch).
        return MergeResult(commit=head, head=head, already=True)
    if strategy is not Strategy.REBASE:
        new = await _write_commit(repo, tree, head, commit, strategy)
    return new


#: how many times a landing computes its merge again because another machine landed first
_SWAP_TRIES = 100


async def _move(repo: Path, branch: str, new: str, head: str, commit: str) -> None:
    """Move ``branch`` from ``head`` to ``new``; a ref lock held by someone else is waited for, never a failure.

    Git holds a ref lock for milliseconds; one older than ``_STALE_S`` was left by a git process that died
    outside the merge train (a landing's own are cleared by ``locks.repo_lock``) and is removed.
    """
    delay, deadline = 0.01, time.monotonic() + _LOCK_PATIENCE_S
    while True:
        moved = await git(repo, "update-ref", f"refs/heads/{branch}", new, head, check=False)
        if moved.returncode == 0:
            return
        locked = lock_file(moved)
        if locked is None:
            raise WorkspaceError(f"{branch} moved while landing {commit[:12]}: {moved.stderr.strip()}")
        if time.monotonic() > deadline:
            raise GitLockError(f"{branch} stayed locked while landing {commit[:12]}: {moved.stderr.strip()}", locked)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(locked).st_mtime > _STALE_S:
                log.warning("removing %s, a git lock file older than %.0fs", locked, _STALE_S)
                os.unlink(locked)
                continue
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


#: how long a landing waits for a ref lock held by someone else before giving up (its attempt gives the task back)
_LOCK_PATIENCE_S = 60.0
#: a git lock file older than this has no live owner (git holds one for milliseconds)
_STALE_S = 30.0


async def _merge_trees(repo: Path, ours: str, theirs: str) -> str | tuple[str, ...]:
    """The merged tree of two commits (merge base from their history), or the conflicting paths."""
    merged = await git(repo, "merge-tree", "--write-tree", "--name-only", ours, theirs, ok_codes=(0, 1))
    lines = merged.stdout.splitlines()
    if merged.returncode == 1:
        return _conflicted_paths(lines)
    return lines[0].strip()


async def _replay(repo: Path, head: str, commit: str) -> str | tuple[str, ...]:
    """Replay the commits of ``commit`` not on ``head`` (first-parent order) on top of ``head``.

    Each commit ``C`` is applied as the three-way merge of ``head`` and ``C`` with ``C``'s parent as
    the base — a cherry-pick. git 2.39's ``merge-tree`` has no ``--merge-base``, so the base is forced
    through history instead: two throw-away commits with the trees of ``head`` and ``C``, both children
    of a parentless commit holding the tree of ``C``'s parent. Returns the new tip, or the paths of the
    first commit that conflicts.
    """
    fork = (await git(repo, "merge-base", head, commit)).stdout.strip()
    listed = await git(repo, "rev-list", "--reverse", "--first-parent", f"{fork}..{commit}")
    tip = head
    for picked in listed.stdout.split():
        parent = (await git(repo, "rev-parse", f"{picked}^1^{{tree}}")).stdout.strip()
        base = await _bare_commit(repo, parent, [])
        ours = await _bare_commit(repo, f"{tip}^{{tree}}", [base])
        theirs = await _bare_commit(repo, f"{picked}^{{tree}}", [base])
        tree = await _merge_trees(repo, ours, theirs)
        if isinstance(tree, tuple):
            return tree
        if tree == (await git(repo, "rev-parse", f"{tip}^{{tree}}")).stdout.strip():
            continue  # already on the branch: a replay adds nothing
        tip = await _write_commit(repo, tree, tip, picked, Strategy.REBASE)
    return tip


async def _bare_commit(repo: Path, tree: str, parents: list[str]) -> str:
    """A commit object that no ref points at (garbage-collected later), used only to steer ``merge-tree``."""
    env = {"GIT_AUTHOR_NAME": "quarterdeck", "GIT_AUTHOR_EMAIL": "replay@quarterdeck.invalid"}
    env |= {"GIT_COMMITTER_NAME": "quarterdeck", "GIT_COMMITTER_EMAIL": "replay@quarterdeck.invalid"}
    env |= {"GIT_AUTHOR_DATE": "1970-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "1970-01-01T00:00:00Z"}
    args = [arg for p in parents for arg in ("-p", p)]
    return (await git(repo, "commit-tree", tree, *args, "-m", "replay", env=env)).stdout.strip()


async def _write_commit(repo: Path, tree: str, head: str, commit: str, strategy: Strategy) -> str:
    meta = (await git(repo, "log", "-1", "--format=%an%n%ae%n%aI", commit)).stdout.splitlines()
    message = (await git(repo, "log", "-1", "--format=%B", commit)).stdout
    env = {"GIT_AUTHOR_NAME": meta[0], "GIT_AUTHOR_EMAIL": meta[1], "GIT_AUTHOR_DATE": meta[2]}
    env |= {"GIT_COMMITTER_NAME": meta[0], "GIT_COMMITTER_EMAIL": meta[1]}
    parents = ["-p", head]
    if strategy is Strategy.MERGE:
        parents += ["-p", commit]
        message = f"Merge: {message}"
    return (await git(repo, "commit-tree", tree, *parents, "-F", "-", stdin=message, env=env)).stdout.strip()


def _conflicted_paths(lines: list[str]) -> tuple[str, ...]:
    """Paths from ``merge-tree --name-only`` output: after the tree id, up to the blank line."""
    paths: list[str] = []
    for line in lines[1:]:
        if not line:
            break
        paths.append(line)
    return tuple(dict.fromkeys(paths))
