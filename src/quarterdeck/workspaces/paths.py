"""Path confinement: a path an agent names must stay inside its worktree, symlinks included."""

from __future__ import annotations

import os
from pathlib import Path

from quarterdeck.errors import WorkspaceError

__all__ = ["confine"]


def confine(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``; refuse absolute paths, ``..`` escapes and symlinks leading out.

    Raises:
        WorkspaceError: naming the path and why it is refused.
    """
    if not relative or "\x00" in relative:
        raise WorkspaceError(f"refused path {relative!r}: empty or contains NUL")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise WorkspaceError(f"refused path {relative!r}: absolute paths are not allowed")
    root = root.resolve()
    resolved = Path(os.path.realpath(root / candidate))
    if resolved != root and root not in resolved.parents:
        raise WorkspaceError(f"refused path {relative!r}: it leads outside the worktree")
    if resolved.parts[: len(root.parts)] == root.parts and ".git" in resolved.parts[len(root.parts) :][:1]:
        raise WorkspaceError(f"refused path {relative!r}: the .git entry is not the agent's to touch")
    return resolved
