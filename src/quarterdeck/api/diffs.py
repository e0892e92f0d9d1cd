"""A task's change as git shows it: the stat and the unified diff of its commit, size-capped."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.api import schemas
from quarterdeck.errors import WorkspaceError
from quarterdeck.workspaces import git

__all__ = ["MAX_DIFF_BYTES", "commit_diff"]

#: the most diff text one response carries
MAX_DIFF_BYTES = 2 * 1024 * 1024


async def commit_diff(repo: Path, commit: str | None) -> schemas.DiffPublic:
    """``git show`` of ``commit`` in ``repo`` (empty when the task has no commit yet or it is gone)."""
    if commit is None:
        return schemas.DiffPublic(commit=None, stat="", diff="", truncated=False)
    try:
        stat = await git.git(repo, "show", "--format=", "--stat", "--no-color", commit, "--")
        patch = await git.git(repo, "show", "--format=", "--patch", "--no-color", "--no-ext-diff", commit, "--")
    except WorkspaceError as exc:
        return schemas.DiffPublic(commit=commit, stat=f"(unavailable: {exc.message})", diff="", truncated=False)
    text = patch.stdout
    truncated = len(text.encode()) > MAX_DIFF_BYTES
    if truncated:
        text = text.encode()[:MAX_DIFF_BYTES].decode(errors="ignore")
    return schemas.DiffPublic(commit=commit, stat=stat.stdout.strip("\n"), diff=text, truncated=truncated)
