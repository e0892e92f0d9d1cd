"""Real git repositories for tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    for name, content in (files or {"README.md": "# test\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


def log_subjects(repo: Path, ref: str) -> list[str]:
    """Subjects on ``ref``, oldest first."""
    return git(repo, "log", "--reverse", "--format=%s", ref).splitlines()


def trailer_tasks(repo: Path, ref: str) -> list[str]:
    """The Quarterdeck-Task trailer of each commit on ``ref``, oldest first (commits without one skipped)."""
    out = git(repo, "log", "--reverse", "--format=%(trailers:key=Quarterdeck-Task,valueonly,separator=)", ref)
    return [line for line in out.splitlines() if line]


def shared_dir(repo: Path, path: Path) -> Path:
    """Make ``path`` a directory every task's sandbox of ``repo`` sees read-write (``[sandbox] rw`` in the
    repository's config, appended to what it holds): tasks that must meet (a barrier, a ledger) need it,
    since each sandbox otherwise sees only its own worktree."""
    path.mkdir(parents=True, exist_ok=True)
    config = repo / ".quarterdeck" / "config.toml"
    config.parent.mkdir(exist_ok=True)
    before = config.read_text() if config.exists() else ""
    config.write_text(f'{before}\n[sandbox]\nrw = ["{path}"]\n')
    return path
