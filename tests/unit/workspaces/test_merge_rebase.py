"""The rebase strategy of the merge train on real repositories: linear history, conflicts named."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.workspaces import merge
from tests.support.gitrepo import git, log_subjects, make_repo


def _commit(repo: Path, branch: str, path: str, content: str, subject: str) -> str:
    git(repo, "checkout", "--quiet", branch)
    (repo / path).write_text(content)
    git(repo, "add", path)
    git(repo, "commit", "--quiet", "-m", subject)
    return git(repo, "rev-parse", "HEAD").strip()


def _two_branches(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "r", {"shared.txt": "one\ntwo\nthree\n"})
    git(repo, "branch", "integration")
    git(repo, "branch", "task")
    _commit(repo, "integration", "other.txt", "landed first\n", "Other task")
    _commit(repo, "task", "a.txt", "a\n", "Task step 1")
    _commit(repo, "task", "shared.txt", "one\ntwo\nthree\nfour\n", "Task step 2")
    git(repo, "checkout", "--quiet", "main")
    return repo


async def test_rebase_replays_each_task_commit_on_the_integration_branch(tmp_path: Path) -> None:
    repo = _two_branches(tmp_path)
    head = git(repo, "rev-parse", "integration").strip()
    task = git(repo, "rev-parse", "task").strip()

    result = await merge.land(repo, "integration", task, strategy=merge.Strategy.REBASE)

    assert result.ok
    assert result.head == head
    assert log_subjects(repo, "integration") == ["initial", "Other task", "Task step 1", "Task step 2"]
    assert git(repo, "rev-list", "--merges", "--count", "integration").strip() == "0"
    assert git(repo, "show", "integration:shared.txt") == "one\ntwo\nthree\nfour\n"
    assert git(repo, "show", "integration:other.txt") == "landed first\n"
    # Each replayed commit carries only its own change, and its original author.
    assert git(repo, "diff", "--name-only", "integration~1", "integration").split() == ["shared.txt"]
    assert git(repo, "log", "-1", "--format=%an", "integration").strip() == "Test"

    again = await merge.land(repo, "integration", task, strategy=merge.Strategy.REBASE)
    assert again.already
    assert again.commit == result.commit


async def test_rebase_reports_the_conflicting_paths_and_leaves_the_branch(tmp_path: Path) -> None:
    repo = _two_branches(tmp_path)
    _commit(repo, "integration", "shared.txt", "one\ntwo\nthree\nFOUR\n", "Conflicting edit")
    head = git(repo, "rev-parse", "integration").strip()
    task = git(repo, "rev-parse", "task").strip()

    result = await merge.land(repo, "integration", task, strategy=merge.Strategy.REBASE)

    assert not result.ok
    assert result.conflicts == ("shared.txt",)
    assert git(repo, "rev-parse", "integration").strip() == head
