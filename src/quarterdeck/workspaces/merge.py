"""The merge train: land a task's branch on the integration branch, one at a time, atomically.

The merge never touches a working tree: ``git merge-tree --write-tree`` computes the result (and
reports conflicts before anything moves), ``git commit-tree`` writes the new commit, an optional
check runs on that commit (in a scratch worktree the caller provides), and ``git update-ref``
moves the branch only if nobody else moved it in between. Landings into one repository are
serialised by a lock file, so they happen in the order tasks finish — which respects dependencies,
because a task only starts after everything it depends on has landed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from quarterdeck.errors import WorkspaceError
from quarterdeck.workspaces import locks, worktrees
from quarterdeck.workspaces.git import git

__all__ = ["MergeResult", "Strategy", "land"]


class Strategy(StrEnum):
    """How a task's branch lands on the integration branch."""

    #: one commit per task with the task commit's message and author (the default)
    SQUASH = "squash"
    #: a merge commit whose second parent is the task's branch head
    MERGE = "merge"


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
) -> MergeResult:
    """Land ``commit`` on ``branch``; ``check(new_commit)`` runs before the branch moves and may raise.

    Raises:
        WorkspaceError: git failed, or the branch moved under the lock (someone bypassed the train).
    """
    async with locks.repo_lock(repo, "merge"):
        head = await worktrees.resolve_commit(repo, f"refs/heads/{branch}")
        merged = await git(repo, "merge-tree", "--write-tree", "--name-only", head, commit, ok_codes=(0, 1))
        lines = merged.stdout.splitlines()
        if merged.returncode == 1:
            return MergeResult(commit=None, head=head, conflicts=_conflicted_paths(lines))
        tree = lines[0].strip()
        if tree == (await git(repo, "rev-parse", f"{head}^{{tree}}")).stdout.strip():
            # Nothing to add: already landed (an attempt that died after moving the branch).
            return MergeResult(commit=head, head=head, already=True)
        new = await _write_commit(repo, tree, head, commit, strategy)
        if check is not None:
            await check(new)
        moved = await git(repo, "update-ref", f"refs/heads/{branch}", new, head, check=False)
        if moved.returncode != 0:
            raise WorkspaceError(f"{branch} moved while landing {commit[:12]}: {moved.stderr.strip()}")
        checkout = await worktrees.checked_out_at(repo, branch)
        if checkout is not None:
            # Bring a checked-out integration branch's files along (two-way, keeps local edits safe).
            await git(checkout, "read-tree", "-m", "-u", head, new)
        return MergeResult(commit=new, head=head)


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
