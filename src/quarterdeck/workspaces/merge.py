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
) -> MergeResult:
    """Land ``commit`` on ``branch``; ``check(new_commit)`` runs before the branch moves and may raise.

    Raises:
        WorkspaceError: git failed, or the branch moved under the lock (someone bypassed the train).
    """
    async with locks.repo_lock(repo, "merge"):
        head = await worktrees.resolve_commit(repo, f"refs/heads/{branch}")
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
