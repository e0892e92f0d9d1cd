"""The pool of parked worktrees: real git repositories, real worktrees, and the engine reusing them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.workspaces import pool, worktrees
from tests.support.gitrepo import git, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = make_repo(
        tmp_path / "repo",
        {".gitignore": "*.log\nbuild/\n", "README.md": "# project\n", "src/a.py": "a = 1\n", "src/b.py": "b = 1\n"},
    )
    (repo / "src" / "b.py").unlink()
    (repo / "src" / "c.py").write_text("c = 1\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "second")
    return repo


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "worktrees"


def _registered(repo: Path) -> list[Path]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [Path(line.removeprefix("worktree ")) for line in listing.splitlines() if line.startswith("worktree ")][1:]


def _tag(worktree: Path, tag: str) -> None:
    """Label a worktree in its private git directory (which moves with it; git may reuse its name)."""
    admin = pool.admin_dir(worktree)
    assert admin is not None
    (admin / "test-tag").write_text(tag)


def _tag_of(worktree: Path) -> str | None:
    admin = pool.admin_dir(worktree)
    assert admin is not None
    tag = admin / "test-tag"
    return tag.read_text() if tag.exists() else None


async def _finished(repo: Path, root: Path, *tasks: str) -> None:
    """Tasks' worktrees created at once, tagged with the task's name and removed as the engine does after a
    success (so each is parked)."""
    main = await worktrees.resolve_commit(repo, "main")
    made = [await worktrees.create_worktree(repo, root, "run1", task, 1, main) for task in tasks]
    for task, ws in zip(tasks, made, strict=True):
        _tag(ws.path, task)
        await worktrees.remove_worktree(repo, ws.path, pool_size=4)
        assert not ws.path.exists()
    assert len(pool.parked(root)) == len(tasks)


async def test_a_recycled_worktree_is_pristine_on_the_new_branch_at_its_base(repo: Path, root: Path) -> None:
    main = await worktrees.resolve_commit(repo, "main")
    first = await worktrees.create_worktree(repo, root, "run1", "first", 1, main)
    _tag(first.path, "first")
    admin = pool.admin_dir(first.path)
    # What an agent may leave behind: a change, a deletion, untracked and ignored files, a nested repository,
    # a symlink, a merge in progress.
    (first.path / "README.md").write_text("changed\n")
    (first.path / "src" / "c.py").unlink()
    (first.path / "notes.txt").write_text("untracked\n")
    (first.path / "debug.log").write_text("ignored\n")
    (first.path / "build" / "out").mkdir(parents=True)
    (first.path / "build" / "out" / "x.o").write_text("ignored\n")
    make_repo(first.path / "vendor" / "nested")
    (first.path / "link").symlink_to(repo / "README.md")
    (first.path / "node_modules").symlink_to(repo / "src")  # as the project config's ``link`` makes them
    assert admin is not None
    (admin / "MERGE_HEAD").write_text(main + "\n")
    await worktrees.remove_worktree(repo, first.path, pool_size=4)
    assert len(pool.parked(root)) == 1

    base = await worktrees.resolve_commit(repo, "main~1")
    second = await worktrees.create_worktree(repo, root, "run2", "second", 1, base)
    assert _tag_of(second.path) == "first"  # the same worktree, moved
    assert pool.parked(root) == []
    assert git(second.path, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert sorted(p.name for p in second.path.iterdir()) == [".git", ".gitignore", "README.md", "src"]
    assert sorted(p.name for p in (second.path / "src").iterdir()) == ["a.py", "b.py"]  # main~1's files
    assert (second.path / "README.md").read_text() == "# project\n"
    assert sorted(p.name for p in (repo / "src").iterdir()) == ["a.py", "c.py"]  # links removed, not followed
    assert git(second.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == second.branch == "qd/run2/second"
    assert git(second.path, "rev-parse", "HEAD").strip() == base == second.base_commit
    # The first task's branch is untouched and free.
    assert git(repo, "rev-parse", "qd/run1/first").strip() == main
    assert _registered(repo) == [second.path]


async def test_the_pool_keeps_at_most_its_size(repo: Path, root: Path) -> None:
    main = await worktrees.resolve_commit(repo, "main")
    made = [await worktrees.create_worktree(repo, root, "run1", f"t{n}", 1, main) for n in range(3)]
    for ws in made:
        await worktrees.remove_worktree(repo, ws.path, pool_size=2)
    assert len(pool.parked(root)) == 2
    assert not any(ws.path.exists() for ws in made)
    assert sorted(_registered(repo)) == pool.parked(root)


async def test_without_a_pool_size_a_worktree_is_removed_and_a_scratch_one_without_a_root_too(
    repo: Path, root: Path
) -> None:
    main = await worktrees.resolve_commit(repo, "main")
    ws = await worktrees.create_worktree(repo, root, "run1", "t", 1, main)
    await worktrees.remove_worktree(repo, ws.path)
    scratch = root / "run1" / "t" / "1-merge"
    await worktrees.create_scratch(repo, scratch, main)
    await worktrees.remove_worktree(repo, scratch, pool_size=4)
    assert not ws.path.exists()
    assert not scratch.exists()
    assert pool.parked(root) == []
    assert _registered(repo) == []


async def test_a_scratch_worktree_with_a_root_reuses_a_parked_one_detached_and_is_parked_after(
    repo: Path, root: Path
) -> None:
    await _finished(repo, root, "first")
    older = await worktrees.resolve_commit(repo, "main~1")
    scratch = root / "run1" / "t" / "1-merge"
    await worktrees.create_scratch(repo, scratch, older, root=root)
    assert _tag_of(scratch) == "first"
    assert git(scratch, "status", "--porcelain", "--ignored", "--branch").splitlines() == ["## HEAD (no branch)"]
    assert git(scratch, "rev-parse", "HEAD").strip() == older
    (scratch / "check-output.log").write_text("a check left this\n")
    await worktrees.remove_worktree(repo, scratch, pool_size=4)
    [parked] = pool.parked(root)
    assert _tag_of(parked) == "first"
    assert not (parked / "check-output.log").exists()


@pytest.mark.parametrize("parked", [True, False])
async def test_a_worktree_deleted_by_hand_is_taken_over(repo: Path, root: Path, parked: bool) -> None:
    main = await worktrees.resolve_commit(repo, "main")
    gone = await worktrees.create_worktree(repo, root, "run1", "t", 1, main)
    shutil.rmtree(gone.path)  # still registered with git, holding the task's branch
    if parked:
        await _finished(repo, root, "u")
    again = await worktrees.create_worktree(repo, root, "run1", "t", 1, main)
    assert again.path == gone.path
    assert _tag_of(again.path) == ("u" if parked else None)
    assert _registered(repo) == [again.path]
    assert git(again.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "qd/run1/t"


async def test_a_parked_worktree_changed_in_the_pool_is_discarded_not_used(repo: Path, root: Path) -> None:
    await _finished(repo, root, "first")
    [parked] = pool.parked(root)
    (parked / "stray.log").write_text("written while parked\n")
    ws = await worktrees.create_worktree(repo, root, "run2", "second", 1, await worktrees.resolve_commit(repo, "main"))
    assert _tag_of(ws.path) is None  # a fresh worktree
    assert not parked.exists()
    assert not (ws.path / "stray.log").exists()
    assert _registered(repo) == [ws.path]


async def test_orphans_of_a_crash_in_the_pool_are_discarded(repo: Path, root: Path) -> None:
    await _finished(repo, root, "first")
    [parked] = pool.parked(root)
    admin = pool.admin_dir(parked)
    assert admin is not None
    shutil.rmtree(admin)  # as if git's record of the worktree was pruned while it was being moved
    half = pool.pool_dir(root, repo) / "half-made"
    (half / "src").mkdir(parents=True)  # as if a crash interrupted a move: no .git at all
    ws = await worktrees.create_worktree(repo, root, "run2", "second", 1, await worktrees.resolve_commit(repo, "main"))
    assert not parked.exists()
    assert not half.exists()
    assert _registered(repo) == [ws.path]
    assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "qd/run2/second"


async def test_concurrent_creates_never_share_a_parked_worktree(repo: Path, root: Path) -> None:
    await _finished(repo, root, "early0", "early1")
    main = await worktrees.resolve_commit(repo, "main")
    made = await asyncio.gather(
        *(worktrees.create_worktree(repo, root, "run2", f"t{n}", 1, main) for n in range(4)),
    )
    tags = [_tag_of(ws.path) for ws in made]
    assert sorted(tags, key=str) == [None, None, "early0", "early1"]  # two reused, each by one task only
    assert pool.parked(root) == []
    assert sorted(_registered(repo)) == sorted(ws.path for ws in made)
    for ws in made:
        assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == ws.branch


async def test_empty_removes_every_parked_worktree_and_orphan(repo: Path, root: Path) -> None:
    await _finished(repo, root, "t0", "t1")
    (pool.pool_dir(root, repo) / "orphan").mkdir()
    assert await pool.empty(root) == 3
    assert pool.parked(root) == []
    assert _registered(repo) == []


# The engine: a run's tasks reuse the worktrees of the tasks that finished before them.

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _shell(task_id: str, script: str, *deps: str) -> plans.TaskSpec:
    return plans.TaskSpec(
        id=task_id, title=f"Task {task_id}", depends_on=deps, runtime="shell", options={"script": script}
    )


async def _run(app: Quarterdeck, plan: plans.Plan, repo: Path) -> tuple[str, list[tuple[str, TaskStatus]]]:
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    return view.run.integration_branch, sorted((t.id, t.status) for t in view.tasks)


@SQLITE_ONLY
async def test_an_engine_run_reuses_the_worktrees_of_finished_tasks(app: Quarterdeck, repo: Path) -> None:
    # Each task proves it starts clean (no ignored file of the previous task), records its own environment,
    # leaves an ignored file behind, and counts its visit in the worktree's git directory (which moves with it).
    script = (
        'test ! -e leftover.log && echo "$QUARTERDECK_TASK_ID $QUARTERDECK_ATTEMPT" > "env-$QUARTERDECK_TASK_ID.txt"'
        ' && echo "$QUARTERDECK_TASK_ID" > leftover.log'
        ' && echo "$QUARTERDECK_TASK_ID" >> "$(git rev-parse --git-dir)/visits"'
    )
    plan = plans.Plan(name="chain", tasks=(_shell("a", script), _shell("b", script, "a"), _shell("c", script, "b")))
    branch, statuses = await _run(app, plan, repo)
    assert statuses == [(t, TaskStatus.SUCCEEDED) for t in "abc"]
    root = app.settings.resolved_worktree_root()
    [parked] = pool.parked(root)
    admin = pool.admin_dir(parked)
    assert admin is not None
    assert (admin / "visits").read_text() == "a\nb\nc\n"  # one worktree served the three tasks
    assert _registered(repo) == [parked]
    for task in "abc":
        assert git(repo, "show", f"{branch}:env-{task}.txt") == f"{task} 1\n"


@SQLITE_ONLY
async def test_failed_task_worktrees_are_kept_and_never_recycled(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(name="mixed", tasks=(_shell("ok", "touch ok.txt"), _shell("bad", "touch kept.txt; false")))
    _, first = await _run(app, plan, repo)
    assert first == [("bad", TaskStatus.FAILED), ("ok", TaskStatus.SUCCEEDED)]
    root = app.settings.resolved_worktree_root()
    [kept] = list(root.glob("*/bad/1"))
    assert len(pool.parked(root)) == 1
    chain = plans.Plan(name="next", tasks=tuple(_shell(f"n{i}", f"touch n{i}.txt") for i in range(3)))
    assert (await _run(app, chain, repo))[1] == [(f"n{i}", TaskStatus.SUCCEEDED) for i in range(3)]
    assert (kept / "kept.txt").exists()  # the failed task's worktree is as it left it
    assert kept in _registered(repo)
    assert 1 <= len(pool.parked(root)) <= 2  # at most one per worker slot that ran at once
    assert len(_registered(repo)) <= 1 + 2 + app.settings.worktree_pool
    assert sorted(r.status for r in await app.runs()) == sorted([RunStatus.FAILED, RunStatus.SUCCEEDED])


async def test_many_worktrees_of_one_repository_created_at_once_are_each_complete(repo: Path, root: Path) -> None:
    # Only git's records of them are made under the repository's lock; their files are checked out in
    # parallel. Every one must still come out registered, on its own branch, with every file.
    head = git(repo, "rev-parse", "HEAD").strip()
    made = await asyncio.gather(*(worktrees.create_worktree(repo, root, "r1", f"t{i}", 1, head) for i in range(12)))
    assert sorted(_registered(repo)) == sorted(ws.path for ws in made)
    for i, ws in enumerate(made):
        assert ws.branch == worktrees.task_branch("r1", f"t{i}")
        assert git(ws.path, "branch", "--show-current").strip() == ws.branch
        assert git(ws.path, "status", "--porcelain") == ""
        assert sorted(
            p.relative_to(ws.path).as_posix() for p in ws.path.rglob("*") if ".git" not in p.parts and p.is_file()
        ) == [".gitignore", "README.md", "src/a.py", "src/c.py"]
    await asyncio.gather(*(worktrees.remove_worktree(repo, ws.path, pool_size=4) for ws in made))
    assert len(pool.parked(root)) == 4
