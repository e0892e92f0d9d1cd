"""The engine end to end through the app facade: real git, real processes, both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.domain import plans
from quarterdeck.domain.events import EventType
from quarterdeck.domain.statuses import AttemptStatus, RunStatus, TaskStatus
from quarterdeck.errors import InputError, PlanError
from quarterdeck.stories.planfile import parse_plan
from tests.support.gitrepo import git, log_subjects, shared_dir, trailer_tasks

EXAMPLE = Path(__file__).parents[2] / "examples" / "textkit"


def _task(task_id: str, *deps: str, actions: list[dict[str, Any]], **extra: Any) -> plans.TaskSpec:
    return plans.TaskSpec(
        id=task_id,
        title=f"Task {task_id}",
        depends_on=deps,
        runtime="scripted",
        options={"actions": actions},
        **extra,
    )


def _write(path: str, content: str) -> dict[str, Any]:
    return {"write": path, "content": content}


async def _run(app: Quarterdeck, plan: plans.Plan, repo: Path, workers: int = 2, **kw: Any) -> RunView:
    record = await app.submit(plan, repo=repo, **kw)
    return await app.run_until_done(record.id, worker=app.worker(slots=workers, run_id=record.id), tick_s=0.02)


async def test_the_example_plan_lands_one_commit_per_task_in_dependency_order(app: Quarterdeck, tmp_path: Path) -> None:
    from quarterdeck.cli.demo import make_repository

    repo = make_repository(EXAMPLE, tmp_path / "textkit")
    plan = parse_plan((EXAMPLE / "plan.yaml").read_text(), str(EXAMPLE / "plan.yaml"))
    view = await _run(app, plan, repo, branch="integration")
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    order = trailer_tasks(repo, "integration")
    assert sorted(order) == sorted(t.id for t in plan.tasks)
    position = {task_id: n for n, task_id in enumerate(order)}
    for task in plan.tasks:
        for dep in task.depends_on:
            assert position[dep] < position[task.id], f"{dep} landed after {task.id}"
    # The integration branch passes the project's own tests.
    git(repo, "checkout", "--quiet", "integration")
    assert (repo / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert all(t.attempts == 1 and t.commit_sha for t in view.tasks)
    # Worktrees of finished tasks are gone; the branches stay.
    assert not any((app.settings.resolved_worktree_root() / view.run.id).glob("*/*/*"))
    assert f"qd/{view.run.id}/normalize" in git(repo, "branch", "--list", "qd/*")


async def test_a_failed_task_blocks_its_dependants_and_fails_the_run(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(
        name="failing",
        tasks=(
            _task("ok", actions=[_write("ok.txt", "ok")]),
            _task("bad", actions=[{"fail": "cannot do this"}]),
            _task("after-bad", "bad", actions=[_write("x.txt", "x")]),
            _task("after-both", "ok", "after-bad", actions=[_write("y.txt", "y")]),
        ),
    )
    view = await _run(app, plan, repo)
    states = {t.id: (t.status, t.error) for t in view.tasks}
    assert view.run.status is RunStatus.FAILED
    assert states == {
        "ok": (TaskStatus.SUCCEEDED, None),
        "bad": (TaskStatus.FAILED, "action 1: cannot do this"),
        "after-bad": (TaskStatus.BLOCKED, "dependency 'bad' failed"),
        "after-both": (TaskStatus.BLOCKED, "dependency 'bad' failed"),
    }
    assert log_subjects(repo, view.run.integration_branch) == ["initial", "Task ok"]


async def test_retryable_failures_are_retried_until_they_succeed(app: Quarterdeck, repo: Path) -> None:
    flaky = _task(
        "flaky",
        actions=[{"fail": "provider overloaded", "on_attempts": [1], "retryable": True}, _write("f.txt", "f")],
        max_attempts=3,
    )
    view = await _run(app, plans.Plan(name="retry", tasks=(flaky,)), repo)
    assert view.run.status is RunStatus.SUCCEEDED
    attempts = await app.attempts(view.tasks[0])
    assert [(a.number, a.status, a.error) for a in attempts] == [
        (1, AttemptStatus.FAILED, "action 1: provider overloaded"),
        (2, AttemptStatus.SUCCEEDED, None),
    ]


async def test_verification_failure_fails_the_task_and_moves_nothing(app: Quarterdeck, repo: Path) -> None:
    task = _task("unverified", actions=[_write("app/x.py", "x = 1\n")], verify=("test -f app/y.py",))
    view = await _run(app, plans.Plan(name="verify", tasks=(task,)), repo)
    assert view.run.status is RunStatus.FAILED
    assert "verification 'test -f app/y.py' exited 1" in (view.tasks[0].error or "")
    assert log_subjects(repo, view.run.integration_branch) == ["initial"]
    events = [e.type for e in await app.events(view.run.id)]
    assert "verify.result" in events
    assert "merge.done" not in events
    # The failed worktree is kept for inspection.
    assert (app.settings.resolved_worktree_root() / view.run.id / "unverified" / "1" / "app" / "x.py").exists()


async def test_shell_tasks_get_their_environment_and_stream_output(app: Quarterdeck, repo: Path) -> None:
    task = plans.TaskSpec(
        id="env",
        title="Write the environment",
        runtime="shell",
        options={"script": 'echo "$QUARTERDECK_TASK_ID/$QUARTERDECK_ATTEMPT" | tee env.txt'},
    )
    view = await _run(app, plans.Plan(name="shell", tasks=(task,)), repo)
    assert view.run.status is RunStatus.SUCCEEDED
    assert git(repo, "show", f"{view.run.integration_branch}:env.txt") == "env/1\n"
    output = [e.payload["text"] for e in await app.events(view.run.id) if e.type == "agent.output"]
    assert output == ["env/1"]


async def test_two_tasks_editing_the_same_line_conflict_and_the_branch_stays(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    shared = shared_dir(repo, tmp_path / "shared")

    def side(me: str, other: str) -> plans.TaskSpec:
        # A barrier: each agent finishes only once both worktrees exist, so both start from the same base.
        barrier = f"touch {shared}/{me}; until [ -e {shared}/{other} ]; do sleep 0.01; done"
        return _task(me, actions=[_write("README.md", f"{me}\n"), {"shell": barrier}], timeout_s=30)

    view = await _run(app, plans.Plan(name="conflict", tasks=(side("left", "right"), side("right", "left"))), repo)
    statuses = sorted(str(t.status) for t in view.tasks)
    assert statuses == ["conflict", "succeeded"], [(t.id, t.error) for t in view.tasks]
    loser = next(t for t in view.tasks if t.status is TaskStatus.CONFLICT)
    assert (loser.error or "").startswith("merge conflict in README.md (integration ")
    winner = next(t for t in view.tasks if t.status is TaskStatus.SUCCEEDED)
    assert git(repo, "show", f"{view.run.integration_branch}:README.md") == f"{winner.id}\n"
    assert len(log_subjects(repo, view.run.integration_branch)) == 2
    events = [e for e in await app.events(view.run.id) if e.type == "merge.conflict"]
    assert [(e.task_id, e.payload["paths"]) for e in events] == [(loser.id, ["README.md"])]
    # Both sides of the conflict are recorded: the integration head and the task's commit.
    assert events[0].payload["ours"] == git(repo, "rev-parse", f"{view.run.integration_branch}~0").strip()
    assert events[0].payload["theirs"] == git(repo, "rev-parse", f"qd/{view.run.id}/{loser.id}").strip()


async def test_checks_run_on_the_merge_result_and_a_failure_leaves_the_branch_alone(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    # Each side passes its own check, but together they break it: only one may land.
    shared = shared_dir(repo, tmp_path / "shared")

    def side(me: str, other: str) -> plans.TaskSpec:
        barrier = f"touch {shared}/{me}; until [ -e {shared}/{other} ]; do sleep 0.01; done"
        return _task(
            me,
            actions=[_write(f"{me}.txt", "x\n"), {"shell": barrier}],
            verify=("test $(ls left.txt right.txt 2>/dev/null | wc -l) -le 1",),
            timeout_s=30,
        )

    view = await _run(app, plans.Plan(name="green", tasks=(side("left", "right"), side("right", "left"))), repo)
    by_status = {t.status: t for t in view.tasks}
    assert set(by_status) == {TaskStatus.SUCCEEDED, TaskStatus.FAILED}
    failed = by_status[TaskStatus.FAILED]
    assert (failed.error or "").startswith("verification on the merge result: verification 'test $(ls")
    assert log_subjects(repo, view.run.integration_branch) == ["initial", f"Task {by_status[TaskStatus.SUCCEEDED].id}"]
    stages = [e.payload["stage"] for e in await app.events(view.run.id) if e.type == "verify.result"]
    assert sorted(stages) == ["merge", "task", "task"]


async def test_the_merge_strategy_writes_merge_commits(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(name="m", tasks=(_task("a", actions=[_write("a.txt", "a")]),))
    view = await _run(app, plan, repo, merge_strategy="merge")
    assert view.run.status is RunStatus.SUCCEEDED
    parents = git(repo, "log", "-1", "--format=%P", view.run.integration_branch).split()
    assert len(parents) == 2
    assert parents[1] == git(repo, "rev-parse", f"qd/{view.run.id}/a").strip()
    assert git(repo, "log", "-1", "--format=%s", view.run.integration_branch).strip() == "Merge: Task a"


async def test_submit_refuses_unknown_runtimes_and_bad_options(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(
        name="bad",
        tasks=(
            plans.TaskSpec(id="a", title="A", runtime="nope", source=plans.SourceRef("p.yaml", 3)),
            plans.TaskSpec(id="b", title="B", runtime="shell", options={}, source=plans.SourceRef("p.yaml", 7)),
        ),
    )
    with pytest.raises(PlanError) as caught:
        await app.submit(plan, repo=repo)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("p.yaml:3: task 'a': unknown runtime 'nope' (did you mean 'noop'?); available: ")
    assert (
        lines[1] == "p.yaml:7: task 'b' (shell) options: Value error, "
        "give exactly one of 'argv' (a list) or 'script' (run with bash -c)"
    )
    assert await app.runs() == []


async def test_submit_refuses_a_dirty_checked_out_integration_branch(app: Quarterdeck, repo: Path) -> None:
    (repo / "README.md").write_text("uncommitted\n")
    plan = plans.Plan(name="p", tasks=(_task("a", actions=[]),))
    with pytest.raises(InputError, match=r"checked out at .* with uncommitted changes"):
        await app.submit(plan, repo=repo, branch="main")
    with pytest.raises(InputError, match="is not a git repository"):
        await app.submit(plan, repo=repo.parent)


@pytest.mark.parametrize("branch", ["../../etc", "-rf", "a..b", "HEAD@{1}", "new\nline", "x.lock", "a//b", ""])
async def test_hostile_integration_branch_names_are_refused(app: Quarterdeck, repo: Path, branch: str) -> None:
    plan = plans.Plan(name="p", tasks=(_task("a", actions=[]),))
    with pytest.raises(InputError, match="unsafe name"):
        await app.submit(plan, repo=repo, branch=branch)
    assert git(repo, "branch", "--list").split() == ["*", "main"]


async def test_an_agent_that_changed_nothing_did_not_do_the_task(app: Quarterdeck, repo: Path) -> None:
    plan = plans.Plan(
        "empty",
        (
            _task("idle", actions=[{"say": "looked around, changed nothing"}]),
            _task("checked", actions=[{"say": "nothing needed"}], allow_empty=True),
            plans.TaskSpec(id="lint", title="Lint", runtime="shell", options={"argv": ["true"]}),
            _task("after", "idle", actions=[_write("after.txt", "x\n")]),
        ),
    )
    view = await _run(app, plan, repo)
    status = {t.id: t.status for t in view.tasks}
    assert status == {
        "idle": TaskStatus.FAILED,
        "checked": TaskStatus.SUCCEEDED,
        "lint": TaskStatus.SUCCEEDED,
        "after": TaskStatus.BLOCKED,
    }
    idle = next(t for t in view.tasks if t.id == "idle")
    assert idle.error is not None
    assert "changed nothing" in idle.error
    assert "allow_empty" in idle.error
    empty = [e.task_id for e in await app.events(view.run.id) if e.type == "result.empty"]
    assert empty == ["idle"]


async def test_tasks_hinted_to_touch_the_same_file_run_apart_and_both_land(app: Quarterdeck, repo: Path) -> None:
    (repo / "shared.txt").write_text("base\n")
    git(repo, "add", "shared.txt")
    git(repo, "commit", "--quiet", "-m", "shared")
    plan = plans.Plan(
        "apart",
        (
            _task("root", actions=[_write("root.txt", "r\n")]),
            _task("left", "root", actions=[_write("shared.txt", "left\n")], files=("shared.txt",)),
            _task("right", "root", actions=[_write("shared.txt", "right\n")], files=("shared.txt",)),
            _task("other", "root", actions=[_write("other.txt", "o\n")], files=("docs/**",)),
        ),
    )
    view = await _run(app, plan, repo, workers=3)
    assert view.run.status is RunStatus.SUCCEEDED, [(t.id, t.error) for t in view.tasks]
    by_id = {t.id: t for t in view.tasks}
    assert all(t.attempts == 1 for t in view.tasks)
    (left,) = await app.attempts(by_id["left"])
    (right,) = await app.attempts(by_id["right"])
    # The earlier task in the plan went first; the other started only after it had landed.
    assert left.finished_at is not None
    assert right.started_at >= left.finished_at
    assert git(repo, "show", f"{view.run.integration_branch}:shared.txt") == "right\n"


async def test_outcomes_finishing_together_are_committed_together_and_release_their_dependants(
    app: Quarterdeck, repo: Path
) -> None:
    # Twelve independent no-op tasks feed one join: four slots finish them in groups (group commit),
    # and the join becomes ready only once all twelve are durable.
    leaves = [plans.TaskSpec(id=f"leaf{i}", title=f"leaf {i}", runtime="noop") for i in range(12)]
    join = plans.TaskSpec(id="join", title="join", runtime="noop", depends_on=tuple(t.id for t in leaves))
    record = await app.submit(plans.Plan(name="groups", tasks=(*leaves, join)), repo=repo)
    worker = app.worker(slots=4, run_id=record.id)
    view = await app.run_until_done(record.id, worker=worker, tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert all(t.status is TaskStatus.SUCCEEDED and t.attempts == 1 for t in view.tasks)
    assert worker.outcomes.recorded == 13
    if app.db.dialect == "sqlite":
        # Statements run on the loop's thread: the slots woken by one commit finish in the same turn.
        assert worker.outcomes.groups < worker.outcomes.recorded
    events = await app.events(record.id)
    succeeded = [e.id for e in events if e.type == EventType.TASK_SUCCEEDED and e.task_id != "join"]
    (ready,) = [e.id for e in events if e.type == EventType.TASK_READY and e.task_id == "join"]
    assert len(succeeded) == 12
    assert max(succeeded) < ready
