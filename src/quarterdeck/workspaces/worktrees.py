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
    found = _checked_out_in_files(await locks.common_dir(repo), branch)
    if not isinstance(found, _Unknown):
        return found
    listing = await git(repo, "worktree", "list", "--porcelain")
    path: Path | None = None
    for line in listing.stdout.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


class _Unknown:
    """``_checked_out_in_files`` could not tell: ask git."""


_UNKNOWN = _Unknown()


def _checked_out_in_files(common: Path, branch: str) -> Path | _Unknown | None:
    """``checked_out_at`` from the files git keeps (``gitrepository-layout``: each linked worktree's ``HEAD``
    and ``gitdir`` under ``<common>/worktrees/``), without starting git: called under the repository's lock
    for every task, where a git process costs the whole queue its start-up. ``_UNKNOWN`` whenever the files
    do not say it plainly: the main worktree holds the branch (bare or not, git knows its path), or the refs
    are not kept in files (reftable's ``HEAD`` names ``refs/heads/.invalid``)."""
    wanted = f"ref: refs/heads/{branch}"
    try:
        main = (common / "HEAD").read_text().strip()
        admins = list((common / "worktrees").iterdir()) if (common / "worktrees").is_dir() else []
    except OSError:
        return _UNKNOWN
    if main == wanted or main.endswith("/.invalid"):
        return _UNKNOWN
    for admin in admins:
        try:
            head = (admin / "HEAD").read_text().strip()
        except OSError:
            continue  # being added or removed by another process: not this task's (its lease is ours)
        if head.endswith("/.invalid"):
            return _UNKNOWN
        if head == wanted:
            try:
                gitdir = Path((admin / "gitdir").read_text().strip())
            except OSError:
                return _UNKNOWN
            return (gitdir if gitdir.is_absolute() else (admin / gitdir).resolve()).parent
    return None


async def create_worktree(repo: Path, root: Path, run_id: str, task_id: str, attempt: int, base: str) -> Workspace:
    """Create the attempt's worktree (``<root>/<run>/<task>/<attempt>``) on the task's branch, at ``base``.

    Each attempt gets its own directory: an agent orphaned by a worker that died cannot write into
    the worktree of the attempt that took over. A worktree parked by a finished task (``pool.py``) is
    reused when there is one: moved here and switched to the branch, only the files that differ are written.
    """
    branch = task_branch(run_id, task_id)
    path = root / run_id / task_id / str(attempt)
    parked_in = pool.pool_dir(root, repo)
    # Registering moves the task's branch: a holder killed meanwhile leaves git's lock of it behind.
    async with locks.repo_lock(repo, "worktrees", guards=(f"refs/heads/{branch}.lock",)):
        await pool.discard(repo, path)
        previous = await checked_out_at(repo, branch)
        if previous is not None and previous.exists():
            # An earlier attempt's worktree is kept for inspection, detached, so the branch is free.
            await git(previous, "checkout", "--quiet", "--detach")
        elif previous is not None:  # deleted by hand: git's record of it still holds the branch
            await git(repo, "worktree", "prune")
        await _register(repo, path, parked_in, ("-B", branch), base)
    await _check_out(path, parked_in, ("-B", branch), base)
    return Workspace(repo=repo, path=path, branch=branch, base_commit=base)


async def create_scratch(repo: Path, path: Path, commit: str, *, root: Path | None = None) -> None:
    """A detached worktree at ``commit``, for checking a candidate before a branch moves to it.

    With ``root`` (the worktree root ``path`` lies under) a worktree parked there is reused when there is one,
    and the scratch worktree may be parked in turn.
    """
    parked_in = pool.pool_dir(root, repo) if root is not None else None
    async with locks.repo_lock(repo, "worktrees"):
        await pool.discard(repo, path)
        await _register(repo, path, parked_in, ("--detach",), commit)
    await _check_out(path, parked_in, ("--detach",), commit)


async def _register(repo: Path, path: Path, parked_in: Path | None, how: tuple[str, ...], commit: str) -> None:
    """Under the repository's lock, what must not interleave: a parked worktree moved to ``path``, else a new
    one registered there (``--no-checkout``: its files are written by ``_check_out``, outside the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if parked_in is not None and await pool.take(repo, parked_in, path):
        return
    # --force: a worktree registered at this path but deleted by hand is taken over.
    await git(repo, "worktree", "add", "--force", "--no-checkout", *how, str(path), commit)


async def _check_out(path: Path, parked_in: Path | None, how: tuple[str, ...], commit: str) -> None:
    """Write the worktree's files at ``commit`` (only what differs, for a parked one), outside the lock.

    Its own index, files and (task) branch are the attempt's alone, so worktrees of one repository are
    checked out in parallel; the lock covers only git's shared records of them (``_register``).
    """
    await git(path, *_CHECKOUT, "checkout", "--quiet", "--force", *how, commit)
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
    # Without the repository's lock: the worktree is this attempt's alone, and git removes it, files first and its
    # private directory last, touching no record of another worktree (a concurrent ``worktree add`` names its
    # own directory by ``mkdir``, and ``prune`` leaves one being added alone: it is locked while it is). Fifty
    # tasks finishing at once then do not queue for it. Only when git could not remove it, the files are deleted
    # and git's records pruned, under the lock.
    if not path.exists():
        return
    removed = await git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
    if removed.returncode != 0 and path.exists():
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
    if not exclude:
        # One git process says both whether anything is left to commit and where HEAD is: a task that changed
        # nothing (a check, a review) costs one process instead of three, and one that did, as many as before
        # (what is staged is then known: no ``diff --cached`` is needed).
        status = await git(ws.path, "status", "--porcelain=v2", "--branch", "--untracked-files=all")
        lines = status.stdout.splitlines()
        oid = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
        dirty = any(not line.startswith("#") for line in lines)
        if oid is not None and not dirty:
            if oid == ws.base_commit:
                return None, []
            changed = await git(ws.path, "diff", "--name-only", ws.base_commit, oid)
            return oid, changed.stdout.split()
        if oid is not None:
            await git(ws.path, "add", "--all")
            if not await _commit(ws, subject, body, trailers, author, check=False):
                # Nothing staged after all (a submodule's own untracked files show in the status, and git adds
                # nothing for them), or the commit failed: then again, for its error.
                staged = await git(ws.path, "diff", "--cached", "--quiet", check=False)
                if staged.returncode == 1:
                    await _commit(ws, subject, body, trailers, author)
            return await _committed(ws)
    await git(ws.path, "add", "--all")
    if exclude:  # files the project config copied or linked in are never the agent's work
        await git(ws.path, "reset", "--quiet", "--", *exclude, check=False)
    staged = await git(ws.path, "diff", "--cached", "--quiet", check=False)
    if staged.returncode == 1:
        await _commit(ws, subject, body, trailers, author)
    return await _committed(ws)


async def _commit(
    ws: Workspace, subject: str, body: str, trailers: Mapping[str, str], author: Author, *, check: bool = True
) -> bool:
    """Commit what is staged, with the task's message and trailers; whether git did (``check``: or raise)."""
    message = subject.strip().splitlines()[0][:200] if subject.strip() else "Quarterdeck task"
    trailer_text = "\n".join(f"{k}: {v}" for k, v in trailers.items())
    full = f"{message}\n\n{body.strip()}\n\n{trailer_text}\n" if body.strip() else f"{message}\n\n{trailer_text}\n"
    done = await git(ws.path, "commit", "--quiet", "--no-verify", "--file=-", stdin=full, env=author.env(), check=check)
    return done.returncode == 0


async def _committed(ws: Workspace) -> tuple[str | None, list[str]]:
    """The head commit if the branch moved past its base (else None), and the files changed."""
    head = (await git(ws.path, "rev-parse", "HEAD")).stdout.strip()
    if head == ws.base_commit:
        return None, []
    changed = await git(ws.path, "diff", "--name-only", ws.base_commit, head)
    return head, changed.stdout.split()
