"""Which worktree holds a branch, read from git's files (``worktrees.checked_out_at``): the same answers as
``git worktree list``, asked of git only when the files do not say it plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.workspaces import locks, pool, worktrees
from tests.support.gitrepo import git, make_repo


def _by_git(repo: Path, branch: str) -> Path | None:
    path: Path | None = None
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"README.md": "# project\n"})


async def test_the_files_answer_as_git_does_for_linked_worktrees(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    ws = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t1", 1, head)
    other = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t2", 1, head)
    git(other.path, "checkout", "--quiet", "--detach")
    common = await locks.common_dir(repo)
    for branch in (ws.branch, other.branch, "qd/r1/none"):
        assert worktrees._checked_out_in_files(common, branch) == _by_git(repo, branch)
        assert await worktrees.checked_out_at(repo, branch) == _by_git(repo, branch)
    assert await worktrees.checked_out_at(repo, ws.branch) == ws.path
    # A second attempt of the task detaches the first one's worktree and takes the branch.
    again = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t1", 2, head)
    assert await worktrees.checked_out_at(repo, ws.branch) == again.path == _by_git(repo, ws.branch)


async def test_the_main_worktree_and_refs_kept_otherwise_are_asked_of_git(repo: Path) -> None:
    common = await locks.common_dir(repo)
    main = git(repo, "symbolic-ref", "--short", "HEAD").strip()
    assert worktrees._checked_out_in_files(common, main) is worktrees._UNKNOWN
    assert await worktrees.checked_out_at(repo, main) == _by_git(repo, main) == repo
    (common / "worktrees").mkdir(exist_ok=True)
    odd = common / "worktrees" / "odd"
    odd.mkdir()
    (odd / "HEAD").write_text("ref: refs/heads/.invalid\n")  # what a reftable repository's files say
    assert worktrees._checked_out_in_files(common, "qd/r1/t1") is worktrees._UNKNOWN


async def test_a_full_pool_parks_nothing_and_leaves_the_worktree_as_it_is(repo: Path, tmp_path: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    root = tmp_path / "wt"
    first = await worktrees.create_worktree(repo, root, "r1", "t1", 1, head)
    second = await worktrees.create_worktree(repo, root, "r1", "t2", 1, head)
    (second.path / "scratch.txt").write_text("left by the agent\n")
    assert await pool.park(repo, first.path, 1)
    assert not await pool.park(repo, second.path, 1)
    assert (second.path / "scratch.txt").exists()  # not reset or cleaned for nothing: the pool was full


async def test_commit_all_answers_the_same_whether_nothing_something_or_the_agent_committed(
    repo: Path, tmp_path: Path
) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    author = worktrees.Author("Quarterdeck", "qd@example.invalid")
    trailers = {"Quarterdeck-Task": "t1"}

    async def commit(ws: worktrees.Workspace, exclude: tuple[str, ...] = ()) -> tuple[str | None, list[str]]:
        return await worktrees.commit_all(
            ws, subject="work", body="", trailers=trailers, author=author, exclude=list(exclude)
        )

    untouched = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t1", 1, head)
    assert await commit(untouched) == (None, [])
    edited = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t2", 1, head)
    (edited.path / "README.md").write_text("# changed\n")
    (edited.path / "new.txt").write_text("new\n")
    sha, files = await commit(edited)
    assert sha == git(edited.path, "rev-parse", "HEAD").strip() != head
    assert sorted(files) == ["README.md", "new.txt"]
    assert "Quarterdeck-Task: t1" in git(edited.path, "log", "-1", "--format=%B")
    by_agent = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t3", 1, head)
    (by_agent.path / "agent.txt").write_text("committed by the agent\n")
    git(by_agent.path, "add", "agent.txt")
    git(by_agent.path, "commit", "--quiet", "-m", "the agent's own")
    own = git(by_agent.path, "rev-parse", "HEAD").strip()
    assert await commit(by_agent) == (own, ["agent.txt"])  # nothing left to commit: its commit stands
    excluded = await worktrees.create_worktree(repo, tmp_path / "wt", "r1", "t4", 1, head)
    (excluded.path / ".env").write_text("copied in by the project's config\n")
    assert await commit(excluded, (".env",)) == (None, [])
