"""Work-conserving scheduling: a ready task starts as soon as any slot is free, in this worker or another.

The tasks here wait for each other through files (a barrier, bounded: a task that would wait longer
fails), so a scheduler that keeps a ready task from a free slot fails the run instead of slowing it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.engine.attempt import AttemptOutcome
from quarterdeck.settings import Settings
from quarterdeck.store import tasks as task_store
from quarterdeck.store import wakeups
from tests.support.gitrepo import shared_dir

#: how long (in 0.05 s steps) a task waits for the others before it fails: long enough for a loaded machine
_PATIENCE = 1200


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default heartbeat and lease (the suite's are short): how long a quick task may take is no excuse to
    wait, and a task that waits for others on a loaded machine must not outlive a 5 s lease renewed every 5 s."""
    defaults = Settings.model_fields
    return settings.model_copy(
        update={"heartbeat_s": defaults["heartbeat_s"].default, "lease_s": defaults["lease_s"].default}
    )


async def _until(condition: Callable[[], Awaitable[bool]], *, within: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _shell(task_id: str, script: str, *deps: str, **extra: Any) -> plans.TaskSpec:
    return plans.TaskSpec(
        id=task_id,
        title=task_id,
        depends_on=deps,
        runtime="shell",
        options={"script": script},
        allow_empty=True,
        **extra,
    )


def _wait_for(condition: str) -> str:
    """A shell loop that exits 0 once ``condition`` holds, or 1 after ``_PATIENCE`` steps."""
    loop = f"while [ $i -lt {_PATIENCE} ]; do if {condition}; then exit 0; fi; sleep 0.05; i=$((i+1)); done"
    return f"i=0; {loop}; exit 1"


async def test_a_ready_task_starts_when_a_slot_is_free_not_behind_a_busy_one(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    # A quick first task makes four ready at once: a long one, which ends only once c has run, and a, b, c.
    # With 3 slots, c must start in the slot a or b frees, not wait for the long task's slot.
    marks = shared_dir(repo, tmp_path / "marks")  # the steps' sandboxes see it too
    plan = plans.Plan(
        name="conserving",
        tasks=(
            plans.TaskSpec(id="setup", title="setup", runtime="noop"),
            _shell("long", _wait_for(f"[ -e {marks}/c ]"), "setup"),
            *(_shell(t, f"touch {marks}/{t}", "setup") for t in ("a", "b", "c")),
        ),
    )
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=3, run_id=record.id), tick_s=0.05)
    assert {t.id: t.status for t in view.tasks} == dict.fromkeys(("setup", "long", "a", "b", "c"), TaskStatus.SUCCEEDED)
    events = [(e.type, e.task_id) for e in await app.events(record.id)]
    # each task claimed once, by a slot that started it: none held behind a busy slot until its lease ran out
    assert not [t for kind, t in events if kind == EventType.LEASE_EXPIRED]
    assert all(t.attempts == 1 for t in view.tasks)
    # c started while the long task still ran
    assert events.index((EventType.TASK_CLAIMED, "c")) < events.index((EventType.TASK_SUCCEEDED, "long"))


async def test_a_task_waiting_for_a_slot_is_ready_never_running(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    # One slot: a quick task's outcome claims the slot's next task (first); while that runs, the others
    # are ready and unclaimed (no lease, no attempt), and a task's duration starts when its attempt does.
    box = shared_dir(repo, tmp_path / "box")  # the steps' sandboxes see it too
    started, go = box / "started", box / "go"
    plan = plans.Plan(
        name="shown",
        tasks=(
            plans.TaskSpec(id="quick", title="quick", runtime="noop", priority=20),
            _shell("first", f"touch {started}; " + _wait_for(f"[ -e {go} ]"), priority=10),
            *(_shell(t, "true") for t in ("x", "y", "z")),
        ),
    )
    record = await app.submit(plan, repo=repo)
    worker = app.worker(slots=1, run_id=record.id)
    serving = asyncio.create_task(app.run_until_done(record.id, worker=worker, tick_s=0.05))

    async def first_started() -> bool:
        return started.exists()

    await _until(first_started, what="the first task to start")
    tasks = {t.id: t for t in (await app.view(record.id)).tasks}
    assert {i: t.status for i, t in tasks.items()} == {
        "quick": TaskStatus.SUCCEEDED,
        "first": TaskStatus.RUNNING,
        **dict.fromkeys(("x", "y", "z"), TaskStatus.READY),
    }
    assert all(tasks[i].attempts == 0 and tasks[i].started_at is None for i in ("x", "y", "z"))
    go.touch()
    view = await asyncio.wait_for(serving, 60)
    assert view.run.status is RunStatus.SUCCEEDED
    # every claim in the event log is followed by the attempt's own events before the next task is claimed:
    # with one slot no task is ever claimed while another one runs
    events = [(e.type, e.task_id) for e in await app.events(record.id)]
    claims = [i for i, (kind, _) in enumerate(events) if kind == EventType.TASK_CLAIMED]
    ends = [i for i, (kind, _) in enumerate(events) if kind == EventType.TASK_SUCCEEDED]
    assert len(claims) == len(ends) == 5
    assert all(end < nxt for end, nxt in zip(ends, claims[1:], strict=False))
    async with app.db.read() as conn:
        for task in (await app.view(record.id)).tasks:
            (attempt,) = await task_store.read_attempts(conn, task.pk)
            assert task.started_at == attempt.started_at


async def test_two_workers_both_get_work(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    # Four tasks that each end only once all four have started, two workers of two slots: neither worker
    # may hold tasks it cannot start, so each must run two of them at once.
    marks = shared_dir(repo, tmp_path / "marks")  # the steps' sandboxes see it too
    together = f"touch {marks}/$QUARTERDECK_TASK_ID; " + _wait_for(f"[ $(ls {marks} | wc -l) -ge 4 ]")
    plan = plans.Plan(
        name="fair",
        tasks=(
            plans.TaskSpec(id="setup", title="setup", runtime="noop"),
            *(_shell(f"t{n}", together.replace("$QUARTERDECK_TASK_ID", f"t{n}"), "setup") for n in range(4)),
        ),
    )
    record = await app.submit(plan, repo=repo)
    one, two = app.worker(slots=2, run_id=record.id), app.worker(slots=2, run_id=record.id)
    serving = [asyncio.create_task(w.serve()) for w in (one, two)]
    try:

        async def finished() -> bool:
            return (await app.view(record.id)).run.status.terminal

        await _until(finished, within=120, what="the run to end")
    finally:
        for w in (one, two):
            w.should_exit = True
            w.wake()
        await asyncio.gather(*serving)
    view = await app.view(record.id)
    assert view.run.status is RunStatus.SUCCEEDED, {t.id: (t.status, t.error) for t in view.tasks}
    assert all(t.attempts == 1 for t in view.tasks)  # none held by a worker that could not start it
    async with app.db.read() as conn:
        served = {
            attempt.worker_id
            for task in view.tasks
            if task.id != "setup"
            for attempt in await task_store.read_attempts(conn, task.pk)
        }
    assert served == {one.worker_id, two.worker_id}


async def test_idle_workers_elsewhere_hear_of_ready_tasks(app: Quarterdeck, repo: Path, settings: Settings) -> None:
    # Another process's worker listens (PostgreSQL: LISTEN; a SQLite file: its FIFO in the doorbell folder);
    # a commit that makes tasks ready wakes it. A listener has no timer of its own: each wake is caused.
    heard = asyncio.Event()
    listener = wakeups.ReadyListener(settings.resolved_database_url(), heard.set)
    assert await listener.start()
    try:
        plan = plans.Plan(name="heard", tasks=(plans.TaskSpec(id="t", title="t", runtime="noop"),))
        await app.submit(plan, repo=repo)
        await asyncio.wait_for(heard.wait(), 60)
        heard.clear()
        # a resumed run announces its ready tasks too
        record = await app.submit(plan, repo=repo)
        await app.pause_run(record.id)
        await asyncio.wait_for(heard.wait(), 60)  # (the submit's)
        heard.clear()
        await app.unpause_run(record.id)
        await asyncio.wait_for(heard.wait(), 60)
        heard.clear()
        # and so does an outcome that made more tasks ready than its slot takes (a fan-out's root)
        fan = plans.Plan(
            name="fan",
            tasks=(
                plans.TaskSpec(id="root", title="root", runtime="noop"),
                *(plans.TaskSpec(id=f"leaf{n}", title="leaf", runtime="noop", depends_on=("root",)) for n in range(3)),
            ),
        )
        record = await app.submit(fan, repo=repo)
        await asyncio.wait_for(heard.wait(), 60)  # (the submit's)
        heard.clear()
        worker = app.worker(slots=1, run_id=record.id)
        announced: list[int] = []

        def on_outcome(outcome: AttemptOutcome) -> None:
            if len(outcome.newly_ready) > len(outcome.next_claims):
                announced.append(len(outcome.newly_ready))

        worker.on_outcome = on_outcome
        view = await app.run_until_done(record.id, worker=worker, tick_s=0.02)
        assert view.run.status is RunStatus.SUCCEEDED
        assert announced == [3]  # the root's outcome: three ready, one taken by its slot; no other announced
        await asyncio.wait_for(heard.wait(), 60)
    finally:
        await listener.stop()


async def test_a_dead_listeners_fifo_is_cleared_by_the_next_ring(tmp_path: Path) -> None:
    # SQLite: a worker killed without stopping its listener leaves its FIFO behind; nobody reads it, so the
    # next ring cannot open it for writing (ENXIO) and removes it. A live listener's stays and is rung.
    url = f"sqlite:///{tmp_path / 'q.db'}"
    folder = wakeups.wake_dir(url)
    assert folder is not None
    heard = asyncio.Event()
    live = wakeups.ReadyListener(url, heard.set)
    assert await live.start()
    try:
        dead = folder / "12345-dead"
        os.mkfifo(dead)
        wakeups.ring(folder)
        await asyncio.wait_for(heard.wait(), 60)
        assert not dead.exists()
        assert len(list(folder.iterdir())) == 1
    finally:
        await live.stop()
    assert list(folder.iterdir()) == []
    assert wakeups.wake_dir("sqlite:///:memory:") is None
    assert wakeups.wake_dir("postgresql://u@h/db") is None


async def _one_slot_order(app: Quarterdeck, repo: Path, tmp_path: Path, tasks: list[dict[str, Any]]) -> list[str]:
    """Run ``tasks`` (``id``, ``deps``, and TaskSpec fields) on one slot: the order their steps started in."""
    ledger = shared_dir(repo, tmp_path / "shared") / "order"  # written by every step's sandbox
    log = f"echo $QUARTERDECK_TASK_ID >> {ledger}"
    specs = tuple(_shell(t.pop("id"), log, *t.pop("deps", ()), **t) for t in tasks)
    record = await app.submit(plans.Plan(name="order", tasks=specs), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    return ledger.read_text().split()


async def test_ready_siblings_start_by_priority_then_longest_remaining_path_then_plan_order(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    # One slot; a root makes five siblings ready at once. The documented order: priority, then the
    # longest chain of tasks still to run behind a task (the critical path first), then plan order.
    # No task has an estimate: the chains are counted in tasks alone.
    order = await _one_slot_order(
        app,
        repo,
        tmp_path,
        [
            {"id": "root"},
            {"id": "short"},  # (ready at once, like the root: ranked with it)
            {"id": "one", "deps": ["root"]},
            {"id": "two", "deps": ["root"]},
            {"id": "two-b", "deps": ["two"]},
            {"id": "three", "deps": ["root"]},
            {"id": "three-b", "deps": ["three"]},
            {"id": "three-c", "deps": ["three-b"]},
            {"id": "urgent", "deps": ["root"], "priority": 5},
            {"id": "also-one", "deps": ["root"]},
        ],
    )
    # root's path is 4 tasks, short's 1; then urgent (priority), three (path 3), two (path 2, earlier in the
    # plan than three-b, path 2 once three is done), and the tasks of path 1 in plan order
    assert order == [
        "root", "urgent", "three", "two", "three-b", "short", "one", "two-b", "three-c", "also-one"
    ]  # fmt: skip


async def test_with_estimates_ready_siblings_start_by_the_longest_estimated_time_behind_them(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    # One slot. Estimates 1, 0.25, 3, 0.5, 2, 0.25, 4 s: their median, 1 s, stands in for "guess" and "urgent".
    order = await _one_slot_order(
        app,
        repo,
        tmp_path,
        [
            {"id": "root", "estimate_s": 1},
            {"id": "quick", "estimate_s": 0.25},  # (ready at once, like the root: 0.25 s behind it, root's 5.25)
            {"id": "three", "deps": ["root"], "estimate_s": 3},
            {"id": "half", "deps": ["root"], "estimate_s": 0.5},
            {"id": "two", "deps": ["root"], "estimate_s": 2},
            {"id": "guess", "deps": ["root"]},
            {"id": "lead", "deps": ["root"], "estimate_s": 0.25},  # the longest in time behind it: 4.25 s
            {"id": "four", "deps": ["lead"], "estimate_s": 4},
            {"id": "urgent", "deps": ["root"], "priority": 5},
        ],
    )
    # urgent by priority; then by time behind: lead 4.25, four 4 (ready once lead is done), three 3, two 2,
    # guess 1 (the median: counted as 0 it would be last), half 0.5, quick 0.25 — not plan order, nor tasks behind
    assert order == ["root", "urgent", "lead", "four", "three", "two", "guess", "half", "quick"]
