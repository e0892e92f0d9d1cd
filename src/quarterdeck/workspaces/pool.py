"""The pool of parked worktrees: finished tasks' worktrees, made pristine and kept per repository for reuse.

A fresh worktree of a big repository writes every file, which takes seconds when the disk is busy; a parked
one is moved (a rename) to the next task's path and switched to its branch, writing only the files that
differ. Layout: ``<root>/.pool/<repo>-<hash>/<id>``, each a registered worktree with a detached HEAD and no
modified, untracked or ignored file.

Parking and taking hold the repository's ``worktrees`` lock (``locks.py``): a parked worktree is moved out of
the pool by one task only. A crash mid-move leaves at worst a directory that is not a registered worktree or
not pristine; it is discarded when next looked at (and by ``quarterdeck gc``), never used.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from pathlib import Path

from quarterdeck.workspaces import locks
from quarterdeck.workspaces.git import git

__all__ = ["admin_dir", "discard", "empty", "mark", "park", "parked", "pool_dir", "take"]

#: the pool's folder under the worktree root (run ids start with a letter or digit, so it is never a run's)
POOL = ".pool"
#: the file in a worktree's private git directory naming the pool it may be parked in
_MARKER = "quarterdeck-pool"
#: files in a worktree's private git directory that say an operation is half done
_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "BISECT_LOG", "rebase-merge", "rebase-apply")


def pool_dir(root: Path, repo: Path) -> Path:
    """Where worktrees of ``repo`` are parked: one folder per repository, named for it and its path."""
    top = repo.resolve()
    digest = hashlib.sha256(str(top).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", top.name)[:40].lstrip(".") or "repo"
    return root / POOL / f"{name}-{digest}"


def admin_dir(path: Path) -> Path | None:
    """The private git directory of the linked worktree at ``path``, if git has it registered there."""
    try:
        text = (path / ".git").read_text()
    except OSError:
        return None
    if not text.startswith("gitdir: "):
        return None
    admin = (path / text.removeprefix("gitdir: ").strip()).resolve()
    try:
        back = Path((admin / "gitdir").read_text().strip())
    except OSError:
        return None
    return admin if back.resolve() == (path / ".git").resolve() else None


def mark(path: Path, parked_in: Path) -> None:
    """Let the worktree at ``path`` be parked in ``parked_in`` once its task is finished."""
    admin = admin_dir(path)
    if admin is not None:
        (admin / _MARKER).write_text(f"{parked_in}\n")


def parked(root: Path) -> list[Path]:
    """Every parked worktree under ``root``, of every repository."""
    return sorted(p for p in (root / POOL).glob("*/*") if p.is_dir())


async def park(repo: Path, path: Path, cap: int) -> bool:
    """Make the worktree at ``path`` pristine and move it into its pool; False when it was not parked.

    Only worktrees ``create_worktree`` marked are parked, and only while their pool holds fewer than ``cap``.
    """
    admin = admin_dir(path)
    if admin is None or cap <= 0:
        return False
    try:
        parked_in = Path((admin / _MARKER).read_text().strip())
    except OSError:
        return False
    if len(_entries(parked_in)) >= cap:
        return False  # (looked at again under the lock) full already: not worth the three git processes below
    # The worktree is still this task's alone: no lock while its files are reset.
    for args in (("reset", "--quiet", "--hard"), ("checkout", "--quiet", "--detach"), ("clean", "-ffdxq")):
        if (await git(path, *args, check=False)).returncode != 0:
            return False
    if _in_progress(admin):
        return False
    async with locks.repo_lock(repo, "worktrees"):
        if len(_entries(parked_in)) >= cap:
            return False
        parked_in.mkdir(parents=True, exist_ok=True)
        target = parked_in / secrets.token_hex(6)
        moved = await git(repo, "worktree", "move", str(path), str(target), check=False)
        if moved.returncode != 0:
            await discard(repo, target)
            return False
    return True


async def take(repo: Path, parked_in: Path, path: Path) -> bool:
    """Move a pristine parked worktree of ``repo`` to ``path`` (which must not exist); False when none is left.

    The caller holds the repository's ``worktrees`` lock. A parked worktree that is not pristine is discarded.
    """
    for candidate in _entries(parked_in):
        if await _pristine(candidate):
            # --force: a worktree registered at ``path`` but deleted by hand is taken over (a locked one is not).
            moved = await git(repo, "worktree", "move", "--force", str(candidate), str(path), check=False)
            if moved.returncode == 0:
                return True
            await discard(repo, path)
        await discard(repo, candidate)
    return False


async def discard(repo: Path, path: Path) -> None:
    """Remove the worktree at ``path`` if it exists, registered or not."""
    if path.exists():
        result = await git(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
        if result.returncode != 0 and path.exists():
            shutil.rmtree(path)
            await git(repo, "worktree", "prune", check=False)


async def empty(root: Path) -> int:
    """Remove every parked worktree under ``root``; how many there were."""
    found = parked(root)
    for path in found:
        admin = admin_dir(path)
        common = _common_dir(admin) if admin is not None else None
        if common is None:  # an orphan of a crash: no repository claims it
            shutil.rmtree(path)
            continue
        async with locks.repo_lock(common, "worktrees"):
            await discard(common, path)
    return len(found)


def _entries(parked_in: Path) -> list[Path]:
    try:
        return sorted(p for p in parked_in.iterdir() if p.is_dir())
    except OSError:
        return []


def _common_dir(admin: Path) -> Path | None:
    try:
        common = (admin / (admin / "commondir").read_text().strip()).resolve()
    except OSError:
        return None
    return common if common.is_dir() else None


def _in_progress(admin: Path) -> bool:
    return any((admin / name).exists() for name in _IN_PROGRESS)


async def _pristine(candidate: Path) -> bool:
    """Registered, detached, nothing half done, and no modified, untracked or ignored file."""
    admin = admin_dir(candidate)
    if admin is None or _in_progress(admin):
        return False
    try:
        if (admin / "HEAD").read_text().startswith("ref:"):
            return False
    except OSError:
        return False
    status = await git(
        candidate,
        "status",
        "--porcelain",
        "--ignored",
        "--untracked-files=normal",
        "--ignore-submodules=none",
        check=False,
    )
    return status.returncode == 0 and not status.stdout.strip()
