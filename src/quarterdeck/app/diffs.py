"""A task's change as git shows it: the stat and the unified diff of its commit, size-capped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quarterdeck.errors import WorkspaceError
from quarterdeck.workspaces import git

__all__ = ["MAX_DIFF_BYTES", "Diff", "commit_diff"]

#: the most diff text one response carries
MAX_DIFF_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Diff:
    """A commit's change: its stat and unified diff (``truncated`` past ``MAX_DIFF_BYTES``)."""

    #: the commit the diff shows (the task's landed commit, or its newest attempt's)
    commit: str | None
    stat: str
    diff: str
    truncated: bool


async def commit_diff(repo: Path, commit: str | None) -> Diff:
    """``git show`` of ``commit`` in ``repo`` (empty when the task has no commit yet or it is gone)."""
    if commit is None:
        return Diff(commit=None, stat="", diff="", truncated=False)
    try:
        stat = await git.git(repo, "show", "--format=", "--stat", "--no-color", commit, "--")
        patch = await git.git(repo, "show", "--format=", "--patch", "--no-color", "--no-ext-diff", commit, "--")
    except WorkspaceError as exc:
        return Diff(commit=commit, stat=f"(unavailable: {exc.message})", diff="", truncated=False)
    text = patch.stdout
    truncated = len(text.encode()) > MAX_DIFF_BYTES
    if truncated:
        text = text.encode()[:MAX_DIFF_BYTES].decode(errors="ignore")
    return Diff(commit=commit, stat=stat.stdout.strip("\n"), diff=text, truncated=truncated)
