"""Worktrees: one git worktree and branch per task, its commit with trailers, and its removal (or parking)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.domain import ids
from quarterdeck.errors import WorkspaceError
from quarterdeck.workspaces import locks, pool
from quarterdeck.workspaces.git import git

__all__ = [
    "Author",
    "Workspace",
    "checked_out_at",
    "commit_all",
    "create_branch",
    "create_scratch",
    "create_worktree",
    "remove_worktree",
    "resolve_commit",
    "same_tree",
    "task_branch",
]

#: Parallel checkout for fresh worktrees (one worker per core; see ``bench/workspaces.py`` for what it buys).
_CHECKOUT = ("-c", f"checkout.workers={os.cpu_count() or 1}", "-c", "checkout.thresholdForParallelism=1000")


@dataclass(frozen=True, slots=True)
class Author:
    """Who agent commits are written by."""

    name: str
    email: str

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclass(frozen=True, slots=True)
class Workspace:
    """A task's worktree: where it is, on which branch, started from which commit."""

    repo: Path
    path: Path
    branch: str
    base_commit: str


def task_branch(run_id: str, task_id: str) -> str:
    """The branch of a task; both parts are checked so they can only ever name one ref."""
    return f"qd/{ids.check_safe_name(run_id, what='run id')}/{ids.check_safe_name(task_id, what='task id')}"


async def resolve_commit(repo: Path, ref: str) -> str:
    """The commit id ``ref`` names (``--end-of-options`` keeps a ref from being read as an option)."""
    result = await git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    if result.returncode != 0:
        raise WorkspaceError(f"{ref!r} does not name a commit in {repo}")
    return result.stdout.strip()


async def same_tree(repo: Path, a: str, b: str) -> bool:
    """Whether two commits hold exactly the same files."""
    trees = await git(repo, "rev-parse", f"{a}^{{tree}}", f"{b}^{{tree}}")
    first, second = trees.stdout.split()
    return first == second


async def create_branch(repo: Path, branch: str, start: str) -> None:
    """Create ``branch`` at ``start`` unless it exists already."""
    check = await git(repo, "check-ref-format", "--branch", branch, check=False)
    if check.returncode != 0:
        raise WorkspaceError(f"{branch!r} is not a valid branch name")
    exists = await git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
    if exists.returncode != 0:
        await git(repo, "branch", "--no-track", "--end-of-options", branch, start)


async def checked_out_at(repo: Path, branch: str) -> Path | None:
    """The worktree where ``branch`` is checked out, if any."""
    listing = await git(repo, "worktree", "list", "--porcelain")
    path: Path | None = None
    for line in listing.stdout.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


async def create_worktree(repo: Path, root: Path, run_id: str, task_id: str, attempt: int, base: str) -> Workspace:
    """Create the attempt's worktree (``<root>/<run>/<task>/<attempt>``) on the task's branch, at ``base``.

    Each attempt gets its own directory: an agent orphaned by a worker that died cannot write into
    the worktree of the attempt that took over. A worktree parked by a finished task (``pool.py``) is
    reused when there is one: moved here and switched to the branch, only the files that differ are written.
    """
    branch = task_branch(run_id, task_id)
    path = root / run_id / task_id / str(attempt)
    async with locks.repo_lock(repo, "worktrees"):
        await pool.discard(repo, path)
        previous = await checked_out_at(repo, branch)
        if previous is not None and previous.exists():
            # An earlier attempt's worktree is kept for inspection, detached, so the branch is free.
            await git(previous, "checkout", "--quiet", "--detach")
        elif previous is not None:  # deleted by hand: git's record of it still holds the branch
            await git(repo, "worktree", "prune")
        await _check_out(repo, path, pool.pool_dir(root, repo), ("-B", branch), base)
    return Workspace(repo=repo, path=path, branch=branch, base_commit=base)


async def create_scratch(repo: Path, path: Path, commit: str, *, root: Path | None = None) -> None:
    """A detached worktree at ``commit``, for checking a candidate before a branch moves to it.

    With ``root`` (the worktree root ``path`` lies under) a worktree parked there is reused when there is one,
    and the scratch worktree may be parked in turn.
    """
    async with locks.repo_lock(repo, "worktrees"):
        await pool.discard(repo, path)
        await _check_out(repo, path, pool.pool_dir(root, repo) if root is not None else None, ("--detach",), commit)


async def _check_out(repo: Path, path: Path, parked_in: Path | None, how: tuple[str, ...], commit: str) -> None:
    """A parked worktree moved to ``path``, else a new one, checked out at ``commit`` (under the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if parked_in is not None and await pool.take(repo, parked_in, path):
        await git(path, *_CHECKOUT, "checkout", "--quiet", "--force", *how, commit)
    else:
        # --force: a worktree registered at this path but deleted by hand is taken over.
        await git(repo, *_CHECKOUT, "worktree", "add", "--force", *how, str(path), commit)
    if parked_in is not None:
        pool.mark(path, parked_in)


async def remove_worktree(repo: Path, path: Path, *, pool_size: int = 0) -> None:
    """Remove a worktree if it exists (its branch stays, for inspection).

    With ``pool_size`` > 0, a worktree ``create_worktree`` (or ``create_scratch`` with a root) made is
    instead made pristine (reset, detached, every untracked and ignored file removed) and parked for the
    next task of the repository, as long as fewer than ``pool_size`` are parked.
    """
    if pool_size > 0 and await pool.park(repo, path, pool_size):
        return
    async with locks.repo_lock(repo, "worktrees"):
        await pool.discard(repo, path)


async def commit_all(
    ws: Workspace,
    *,
    subject: str,
    body: str,
    trailers: Mapping[str, str],
    author: Author,
    exclude: Sequence[str] = (),
) -> tuple[str | None, list[str]]:
    """Commit everything in the worktree (the agent may have committed some of it itself).

    Returns the head commit if the branch moved past its base, else None, and the files changed.
    """
    await git(ws.path, "add", "--all")
    if exclude:  # files the project config copied or linked in are never the agent's work
        await git(ws.path, "reset", "--quiet", "--", *exclude, check=False)
    staged = await git(ws.path, "diff", "--cached", "--quiet", check=False)
    if staged.returncode == 1:
        message = subject.strip().splitlines()[0][:200] if subject.strip() else "Quarterdeck task"
        trailer_text = "\n".join(f"{k}: {v}" for k, v in trailers.items())
        full = f"{message}\n\n{body.strip()}\n\n{trailer_text}\n" if body.strip() else f"{message}\n\n{trailer_text}\n"
        await git(ws.path, "commit", "--quiet", "--no-verify", "--file=-", stdin=full, env=author.env())
    head = (await git(ws.path, "rev-parse", "HEAD")).stdout.strip()
    if head == ws.base_commit:
        return None, []
    changed = await git(ws.path, "diff", "--name-only", ws.base_commit, head)
    return head, changed.stdout.split()
