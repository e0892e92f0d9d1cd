"""Repositories named by URL: workers with nothing in common but the database and the git remote.

Each "machine" here is a Quarterdeck with a state directory (so a repository cache) and a worktree root
of its own; the remote is a bare repository reached through ``file://``. The multi-host test with network
namespaces and ``git daemon`` is ``tests/acceptance/test_fleet.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.errors import InputError
from quarterdeck.settings import Settings
from quarterdeck.store import tasks as task_store
from tests.support.gitrepo import git, make_repo, trailer_tasks


def _remote(tmp_path: Path, files: dict[str, str]) -> str:
    """A bare repository holding ``files`` on ``main``, and its ``file://`` URL."""
    source = make_repo(tmp_path / "source", files)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    return f"file://{bare}"


def _machine(settings: Settings, tmp_path: Path, name: str) -> Settings:
    return settings.model_copy(update={"state_dir": tmp_path / name / "state", "worktree_root": tmp_path / name / "wt"})


def _shell(task_id: str, script: str, *deps: str) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, depends_on=deps, runtime="shell", options={"script": script})


#: twenty lines: two tasks edit lines far apart in it, and both land
_SHARED = "".join(f"line {i}\n" for i in range(1, 21))


def _fleet_plan() -> plans.Plan:
    """Chains, a diamond, and two tasks editing one file (far apart): every task writes a file of its own."""
    tasks = [_shell("root", "echo root > root.txt")]
    for chain in ("a", "b"):
        previous = "root"
        for step in range(4):
            task_id = f"{chain}{step}"
            tasks.append(_shell(task_id, f"echo {task_id} > {task_id}.txt", previous))
            previous = task_id
    tasks += [
        _shell("top", "echo top > top.txt", "root"),
        _shell("left", "echo left > left.txt", "top"),
        _shell("right", "echo right > right.txt", "top"),
        _shell("bottom", "test -f left.txt && test -f right.txt && echo bottom > bottom.txt", "left", "right"),
        _shell("head", "sed -i 's/^line 2$/line 2 (head)/' shared.txt", "root"),
        _shell("tail", "sed -i 's/^line 19$/line 19 (tail)/' shared.txt", "root"),
    ]
    return plans.Plan(name="fleet", tasks=tuple(tasks))


@contextlib.asynccontextmanager
async def _machines(settings: Settings, tmp_path: Path, *names: str) -> AsyncIterator[list[Quarterdeck]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(Quarterdeck(_machine(settings, tmp_path, n))) for n in names]


async def test_two_machines_land_every_task_once_on_the_remote(settings: Settings, tmp_path: Path) -> None:
    url = _remote(tmp_path, {"README.md": "# fleet\n", "shared.txt": _SHARED})
    async with _machines(settings, tmp_path, "m1", "m2") as (one, two):
        record = await one.submit(_fleet_plan(), repo=url)
        assert record.repo_path == url
        other = two.worker(slots=3)
        serving = asyncio.create_task(other.serve())
        try:
            view = await one.run_until_done(record.id, worker=one.worker(slots=3), tick_s=0.05)
        finally:
            other.should_exit = True
            await asyncio.wait_for(serving, 60)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.status, t.error) for t in view.tasks]
    bare = Path(url.removeprefix("file://"))
    landed = trailer_tasks(bare, f"refs/heads/{record.integration_branch}")
    assert sorted(landed) == sorted(t.id for t in _fleet_plan().tasks)  # each exactly once, on the remote
    assert landed.index("bottom") > max(landed.index("left"), landed.index("right"))
    assert landed.index("a3") > landed.index("a2") > landed.index("a1") > landed.index("a0")
    shared = git(bare, "show", f"{record.integration_branch}:shared.txt")
    assert "line 2 (head)\n" in shared
    assert "line 19 (tail)\n" in shared
    # each machine worked in a cache of its own
    for name in ("m1", "m2"):
        caches = list((tmp_path / name / "state" / "repos").glob("*.git"))
        assert len(caches) == 1


async def test_a_landing_that_lost_the_race_merges_again_on_the_new_head(settings: Settings, tmp_path: Path) -> None:
    # Machine one's cache is behind: someone pushed to the remote's integration branch after its fetch.
    # Its compare-and-swap push is refused; it fetches, recomputes and lands on top, losing nothing.
    url = _remote(tmp_path, {"README.md": "# race\n"})
    bare = Path(url.removeprefix("file://"))
    async with _machines(settings, tmp_path, "m1") as (one,):
        record = await one.submit(plans.Plan(name="race", tasks=(_shell("mine", "echo mine > mine.txt"),)), repo=url)
        other = make_repo(tmp_path / "other", {"README.md": "# race\n"})
        git(other, "fetch", "--quiet", url, f"{record.integration_branch}:theirs")
        git(other, "checkout", "--quiet", "theirs")
        (other / "theirs.txt").write_text("theirs\n")
        git(other, "add", "theirs.txt")
        git(other, "commit", "--quiet", "-m", "theirs")
        from quarterdeck.workspaces import merge, remote

        origin = await remote.open_cache(one.settings.resolved_repo_cache(), url)
        await origin.fetch_run(record.integration_branch, record.id)
        before = git(bare, "rev-parse", record.integration_branch).strip()
        git(other, "push", "--quiet", url, f"theirs:{record.integration_branch}")
        # a commit made on the stale head, landed through the remote
        work = make_repo(tmp_path / "work", {"README.md": "# race\n"})
        git(work, "fetch", "--quiet", url, f"{before}:base")
        git(work, "checkout", "--quiet", "base")
        (work / "mine.txt").write_text("mine\n")
        git(work, "add", "mine.txt")
        git(work, "commit", "--quiet", "-m", "mine")
        git(work, "push", "--quiet", str(origin.cache), "base:refs/heads/mine")
        commit = git(work, "rev-parse", "HEAD").strip()
        result = await merge.land(origin.cache, record.integration_branch, commit, remote=origin)
    assert result.ok
    assert result.head != before  # merged on what the remote held after the refused push
    files = git(bare, "ls-tree", "--name-only", record.integration_branch).split()
    assert {"mine.txt", "theirs.txt"} <= set(files)


async def test_an_unreachable_remote_gives_the_task_back_not_counted(settings: Settings, tmp_path: Path) -> None:
    url = _remote(tmp_path, {"README.md": "# away\n"})
    bare = Path(url.removeprefix("file://"))
    async with _machines(settings, tmp_path, "m1") as (one,):
        record = await one.submit(plans.Plan(name="away", tasks=(_shell("t", "echo t > t.txt"),)), repo=url)
        hidden = bare.with_name("hidden.git")
        bare.rename(hidden)  # the remote is gone (as a network partition would make it)
        worker = one.worker(slots=1)
        serving = asyncio.create_task(worker.serve())
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while not worker.unreachable:
                assert asyncio.get_running_loop().time() < deadline, "the worker never noticed the remote was away"
                await asyncio.sleep(0.05)
            task = (await one.view(record.id)).tasks[0]
            assert task.status is TaskStatus.READY  # given back, not failed
            assert task.failures == 0
            assert url in worker.unreachable
            hidden.rename(bare)
            worker.unreachable.clear()  # (as its pause running out would)
            view = await one.run_until_done(record.id, worker=None, tick_s=0.05)
        finally:
            worker.should_exit = True
            await asyncio.wait_for(serving, 60)
        async with one.db.read() as conn:
            attempts = await task_store.read_attempts(conn, view.tasks[0].pk)
    assert view.run.status is RunStatus.SUCCEEDED
    assert len([a for a in attempts if a.error and a.error.startswith("given back")]) <= 1


async def test_a_bad_repository_url_is_refused_with_its_reason(app: Quarterdeck, tmp_path: Path) -> None:
    plan = plans.Plan(name="bad", tasks=(_shell("t", "true"),))
    with pytest.raises(InputError, match="cannot fetch"):
        await app.submit(plan, repo=f"file://{tmp_path}/nowhere.git")
    url = _remote(tmp_path, {"README.md": "# x\n"})
    with pytest.raises(InputError, match="has no 'nope'"):
        await app.submit(plan, repo=url, base="nope")
