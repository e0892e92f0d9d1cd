from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.errors import WorkspaceError
from quarterdeck.workspaces.paths import confine


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "wt" / "src").mkdir(parents=True)
    (tmp_path / "wt" / ".git").write_text("gitdir: elsewhere")
    (tmp_path / "outside").mkdir()
    (tmp_path / "wt" / "escape").symlink_to(tmp_path / "outside")
    (tmp_path / "wt" / "inner").symlink_to(tmp_path / "wt" / "src")
    return tmp_path / "wt"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../../etc/passwd", "outside the worktree"),
        ("/etc/passwd", "absolute"),
        ("src/../../outside/x", "outside the worktree"),
        ("escape/secret.txt", "outside the worktree"),
        (".git/config", ".git"),
        ("", "empty"),
    ],
)
def test_escapes_are_refused(root: Path, path: str, why: str) -> None:
    with pytest.raises(WorkspaceError) as caught:
        confine(root, path)
    assert why in str(caught.value)


def test_paths_inside_resolve(root: Path) -> None:
    assert confine(root, "src/new.py") == root.resolve() / "src" / "new.py"
    assert confine(root, "inner/x.py") == root.resolve() / "src" / "x.py"
    assert confine(root, "a/b/../c.txt") == root.resolve() / "a" / "c.txt"
