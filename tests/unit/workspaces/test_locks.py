"""Repository locks on real repositories: no thread held while waiting, git locks of dead holders cleared."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from quarterdeck.errors import GitLockError
from quarterdeck.workspaces import locks, merge
from tests.support.gitrepo import git, make_repo

ROOT = Path(__file__).resolve().parents[3]


def _task_branch(repo: Path, name: str, path: str) -> str:
    git(repo, "checkout", "--quiet", "-b", name, "main")
    (repo / path).write_text(f"{name}\n")
    git(repo, "add", path)
    git(repo, "commit", "--quiet", "-m", name)
    git(repo, "checkout", "--quiet", "main")
    return git(repo, "rev-parse", name).strip()


async def test_many_waiters_hold_no_thread_while_the_holder_needs_one(tmp_path: Path) -> None:
    # The shape of the deadlock with many slots: every slot waits for the merge lock, and its holder
    # needs the worktrees lock (and threads: git, the pool) before it lets go.
    repo = make_repo(tmp_path / "r")
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    order: list[int] = []

    async def slot(n: int) -> None:
        async with locks.repo_lock(repo, "merge"), locks.repo_lock(repo, "worktrees"):
            await asyncio.to_thread(order.append, n)

    await asyncio.wait_for(asyncio.gather(*(slot(n) for n in range(32))), timeout=120)
    assert sorted(order) == list(range(32))


async def test_waiters_queue_in_arrival_order_within_a_process(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    order: list[int] = []
    first = asyncio.Event()

    async def holder() -> None:
        async with locks.repo_lock(repo, "merge"):
            first.set()
            await asyncio.sleep(0)  # let every waiter queue up behind
            order.append(-1)

    async def waiter(n: int) -> None:
        await first.wait()
        async with locks.repo_lock(repo, "merge"):
            order.append(n)

    await asyncio.gather(holder(), *(waiter(n) for n in range(8)))
    assert order[0] == -1
    assert sorted(order[1:]) == list(range(8))


def _die_holding(repo: Path, guard: str, create: list[str]) -> None:
    """A process takes the merge lock, creates git lock files as a landing would, and is killed -9."""
    script = textwrap.dedent(f"""
        import asyncio, os, signal
        from pathlib import Path
        from quarterdeck.workspaces import locks

        async def main():
            async with locks.repo_lock(Path({str(repo)!r}), "merge", guards=({guard!r},)) as held:
                for path in {create!r}:
                    Path(held.common / path).write_text("")
                os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
    """)
    died = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert died.returncode == -9, died.stderr


async def test_a_landing_after_a_holder_killed_mid_landing_clears_its_ref_lock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "branch", "integration")
    task = _task_branch(repo, "task", "a.txt")
    _die_holding(repo, "refs/heads/integration.lock", ["refs/heads/integration.lock"])
    assert (repo / ".git/refs/heads/integration.lock").exists()

    result = await merge.land(repo, "integration", task)

    assert result.ok
    assert git(repo, "show", "integration:a.txt") == "task\n"
    assert not (repo / ".git/refs/heads/integration.lock").exists()


async def test_only_the_dead_holders_declared_git_locks_are_cleared(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    _die_holding(repo, "refs/heads/integration.lock", ["refs/heads/integration.lock", "refs/heads/other.lock"])
    async with locks.repo_lock(repo, "merge"):
        pass
    assert not (repo / ".git/refs/heads/integration.lock").exists()
    assert (repo / ".git/refs/heads/other.lock").exists()  # not declared: maybe someone else's, left alone


async def test_a_ref_lock_left_by_a_git_that_died_outside_the_train_is_cleared_when_old(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "branch", "integration")
    task = _task_branch(repo, "task", "a.txt")
    stale = repo / ".git/refs/heads/integration.lock"
    stale.write_text("")
    an_hour_ago = stale.stat().st_mtime - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))

    result = await merge.land(repo, "integration", task)

    assert result.ok
    assert not stale.exists()


async def test_a_landing_waits_for_a_ref_lock_someone_holds_and_then_lands(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "branch", "integration")
    task = _task_branch(repo, "task", "a.txt")
    held = repo / ".git/refs/heads/integration.lock"
    held.write_text("")
    landing = asyncio.ensure_future(merge.land(repo, "integration", task))
    # However long the lock is held, the landing waits (old code failed at once: "cannot lock ref").
    done, _ = await asyncio.wait([landing], timeout=0.5)
    assert not done
    held.unlink()
    result = await landing
    assert result.ok
    assert git(repo, "show", "integration:a.txt") == "task\n"


def test_git_names_the_lock_file_it_found_held(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / ".git/index.lock").write_text("")

    async def add() -> None:
        from quarterdeck.workspaces.git import git as run_git

        await run_git(repo, "add", "--all")

    (repo / "new.txt").write_text("x")
    with pytest.raises(GitLockError) as caught:
        asyncio.run(add())
    assert caught.value.path == str(repo / ".git/index.lock")
