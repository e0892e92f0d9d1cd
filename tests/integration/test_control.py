"""Steering runs while they run: cancel, pause/resume, re-queue dead letters, re-prioritise."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import AttemptStatus, RunStatus, TaskStatus
from quarterdeck.errors import InputError
from tests.support.gitrepo import shared_dir


async def _until(condition: Callable[[], Awaitable[bool]], *, within: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _shell(task_id: str, script: str, *deps: str, **extra: Any) -> plans.TaskSpec:
    return plans.TaskSpec(
        id=task_id, title=task_id, depends_on=deps, runtime="shell", options={"script": script}, **extra
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cmdline(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def test_cancelling_a_running_task_kills_its_process_group_and_blocks_dependants(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    pidfile = shared_dir(repo, tmp_path / "shared") / "child.pid"  # the step's sandbox sees only its worktree
    marker = f"qd-stuck-{uuid.uuid4().hex[:8]}"  # inside the sandbox, $! is its own PID namespace's number
    # The agent starts a grandchild and waits forever: cancellation must take down the whole group.
    blocker = _shell("stuck", f"bash -c 'exec -a {marker} sleep 600' & echo $! > {pidfile}; wait")
    plan = plans.Plan(name="cancel", tasks=(blocker, _shell("after", "true", "stuck"), _shell("free", "true")))
    record = await app.submit(plan, repo=repo)
    worker = app.worker(slots=2, run_id=record.id)
    serving = asyncio.create_task(app.run_until_done(record.id, worker=worker, tick_s=0.02))

    def marked() -> list[int]:
        procs = Path("/proc").glob("[0-9]*/cmdline")
        return [int(p.parent.name) for p in procs if _cmdline(p).split(b"\0")[0] == marker.encode()]

    async def started() -> bool:
        # The pid file is written when the child is forked; its name is the marker only once it has exec'd.
        return pidfile.exists() and pidfile.read_text().strip().isdigit() and bool(marked())

    await _until(started, what="the agent's child to start")
    (child,) = marked()
    assert await app.cancel_task(record.id, "stuck") == ["after"]
    view = await asyncio.wait_for(serving, 30)

    async def child_gone() -> bool:
        return not _alive(child)

    await _until(child_gone, what="the grandchild to be killed")
    states = {t.id: t.status for t in view.tasks}
    assert states == {"stuck": TaskStatus.CANCELLED, "after": TaskStatus.BLOCKED, "free": TaskStatus.SUCCEEDED}
    assert view.run.status is RunStatus.FAILED
    attempts = await app.attempts(view.tasks[0])
    assert [(a.status, a.error) for a in attempts] == [(AttemptStatus.CANCELLED, "cancelled")]
    assert Path(attempts[0].worktree or "").is_dir()  # kept for inspection
    with pytest.raises(InputError, match="only unfinished tasks can be cancelled"):
        await app.cancel_task(record.id, "free")


async def test_a_paused_run_starts_nothing_until_it_is_resumed(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(name="pause", tasks=(_shell("a", "echo a > a.txt"), _shell("b", "echo b > b.txt", "a")))
    record = await app.submit(plan, repo=repo)
    await app.pause_run(record.id)
    worker = app.worker(slots=1, run_id=record.id)
    serving = asyncio.create_task(worker.serve())

    async def looked_twice() -> bool:
        return worker.polls >= 2

    await _until(looked_twice, what="the worker to poll")
    assert {t.status for t in (await app.view(record.id)).tasks} == {TaskStatus.READY, TaskStatus.PENDING}
    assert await app.unpause_run(record.id) is True
    worker.wake()
    view = await app.run_until_done(record.id, worker=None, tick_s=0.02)
    worker.should_exit = True
    worker.wake()
    await serving
    assert view.run.status is RunStatus.SUCCEEDED
    types = [e.type for e in await app.events(record.id)]
    assert types.index("run.paused") < types.index("run.resumed") < types.index("task.claimed")


async def test_a_dead_letter_is_requeued_and_its_dependants_run(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    flag = shared_dir(repo, tmp_path / "shared") / "fixed"  # seen by the steps' sandboxes
    plan = plans.Plan(
        name="requeue",
        tasks=(
            _shell("flaky", f"test -e {flag} && echo ok > ok.txt"),
            _shell("next", "echo next > next.txt", "flaky"),
            _shell("last", "echo last > last.txt", "next"),
        ),
    )
    record = await app.submit(plan, repo=repo)
    first = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert first.run.status is RunStatus.FAILED
    assert [t.status for t in first.tasks] == [TaskStatus.FAILED, TaskStatus.BLOCKED, TaskStatus.BLOCKED]
    flag.touch()
    assert await app.requeue_task(record.id, "flaky") == ["last", "next"]
    assert (await app.view(record.id)).run.status is RunStatus.RUNNING
    second = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert second.run.status is RunStatus.SUCCEEDED
    assert [t.attempts for t in second.tasks] == [2, 1, 1]
    with pytest.raises(InputError, match="only failed, conflicted or cancelled tasks can be re-queued"):
        await app.requeue_task(record.id, "flaky")


async def test_cancelling_a_run_cancels_everything_unfinished(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(name="c", tasks=(_shell("a", "true"), _shell("b", "true", "a")))
    record = await app.submit(plan, repo=repo)
    assert await app.cancel_run(record.id) == ["a", "b"]
    view = await app.view(record.id)
    assert view.run.status is RunStatus.CANCELLED
    assert {t.status for t in view.tasks} == {TaskStatus.CANCELLED}
    with pytest.raises(InputError, match="already ended"):
        await app.cancel_run(record.id)


async def test_reprioritising_changes_what_is_claimed_next(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    ledger = shared_dir(repo, tmp_path / "shared") / "order"  # written by every step's sandbox
    plan = plans.Plan(name="p", tasks=tuple(_shell(n, f"echo {n} >> {ledger}") for n in ("a", "b", "c")))
    record = await app.submit(plan, repo=repo)
    await app.prioritize_task(record.id, "c", 5)
    await app.prioritize_task(record.id, "b", 3)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert ledger.read_text().split() == ["c", "b", "a"]
    assert await app.find_run_of_task("b") == record.id


async def test_a_busy_slot_holds_no_claimed_task_and_a_drain_leaves_the_rest_ready(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    # One slot: the quick first task's outcome claims the slot's next task, which starts at once; nothing
    # is lined up behind it (the rest stay ready, free for any other slot). Draining while it runs claims
    # nothing more; another worker finishes.
    shared = shared_dir(repo, tmp_path / "shared")  # the steps' sandboxes see it
    started, go = shared / "started", shared / "go"
    waits = f"touch {started}; while [ ! -e {go} ]; do sleep 0.02; done; echo w > w.txt"
    rest = [f"rest{i}" for i in range(4)]
    plan = plans.Plan(
        name="ahead",
        tasks=(
            plans.TaskSpec(id="quick", title="quick", runtime="noop", priority=100),
            _shell("waits", waits, priority=99),
            *(plans.TaskSpec(id=i, title=i, runtime="noop", priority=50 - n) for n, i in enumerate(rest)),
            plans.TaskSpec(id="last", title="last", runtime="noop", priority=1),
        ),
    )
    record = await app.submit(plan, repo=repo)
    worker = app.worker(slots=1, run_id=record.id)
    serving = asyncio.create_task(worker.serve())

    async def waiting() -> bool:
        return started.exists()

    await _until(waiting, what="the second task to start")
    states = {t.id: t.status for t in (await app.view(record.id)).tasks}
    assert states == {
        "quick": TaskStatus.SUCCEEDED,
        "waits": TaskStatus.RUNNING,
        **dict.fromkeys(rest, TaskStatus.READY),  # not claimed for the busy slot
        "last": TaskStatus.READY,
    }
    worker.should_exit = True
    go.touch()
    await serving
    view = await app.view(record.id)
    states = {t.id: t.status for t in view.tasks}
    assert states == {
        "quick": TaskStatus.SUCCEEDED,
        "waits": TaskStatus.SUCCEEDED,
        **dict.fromkeys(rest, TaskStatus.READY),
        "last": TaskStatus.READY,
    }
    events = await app.events(record.id)
    assert [e.task_id for e in events if e.type == EventType.TASK_CLAIMED] == ["quick", "waits"]
    assert not [e for e in events if e.type == EventType.TASK_RELEASED]  # nothing was claimed that had to go back
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
