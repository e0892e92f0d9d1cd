"""Goals driven server-side: the supervisor of whichever process runs workers plans the goal, re-plans a task that
failed for good and asks for budget; a person's approval makes the run go on; a process that dies mid-step
loses nothing. The manager and reviewer are local servers speaking the Anthropic wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.crews import audit
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext
from quarterdeck.settings import Settings
from quarterdeck.store.tables import supervision
from quarterdeck.store.types import utcnow
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, Script

MODEL = "claude-haiku-4-5"


class FlatOptions(RuntimeOptions):
    cost_usd: float


class Flat:
    """A test agent that writes a file and always costs ``cost_usd`` (whatever its cap)."""

    name: ClassVar[str] = "flat"
    Options: ClassVar[type[RuntimeOptions]] = FlatOptions

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, FlatOptions)
        (task.workdir / f"{task.task_id}.txt").write_text("done\n")
        return RunResult(ok=True, cost_usd=task.options.cost_usd, model="flat-1", cost_source="agent")


def _task(id: str, title: str, criterion: str, command: str, verify: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "prompt": f"{title}.",
        "role": "docs",
        "acceptance_criteria": [{"text": criterion, "command": command}],
        "verify": verify,
        "estimate_usd": 0.01,
        **extra,
    }


#: the scripted worker writes `hi`; the first plan's check wants `hello`: it fails for good
PLAN: dict[str, Any] = {
    "name": "hello",
    "tasks": [_task("hello", "Write hello", "it says hello", "true", ["grep -qx hello hello.txt"])],
}
REPLAN: dict[str, Any] = {
    "reason": "the check wants hello but the writer says hi: accept what it writes",
    "changes": [
        {
            "action": "replace",
            "task": "hello",
            "tasks": [_task("hello-v2", "Write hello again", "hello.txt exists", "test -f hello.txt", [])],
        }
    ],
}
ACCEPT: dict[str, Any] = {"criteria": [], "verdict": "accept", "summary": "fine"}


def _crew(repo: Path, boss: str, review: str, role: str) -> None:
    route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "crew.toml").write_text(
        f"[crew.manager]\nmodels = {route.format(m=MODEL, u=boss)}\n"
        f"[crew.reviewer]\nmodels = {route.format(m=MODEL, u=review)}\n"
        f"[crew.roles.docs]\n{role}\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "crew")


SCRIPTED = 'runtime = "scripted"\noptions = {actions = [{write = "hello.txt", content = "hi\\n"}]}'


@pytest.fixture
def servers() -> Iterator[tuple[AnthropicServer, AnthropicServer]]:
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)), Reply.text(json.dumps(REPLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
    ):
        yield boss, review


@asynccontextmanager
async def serving(app: Quarterdeck) -> AsyncIterator[None]:
    """A worker process's loop, as `serve` or `worker` runs it: every run, its supervisor included."""
    worker = app.worker(slots=1)
    task = asyncio.create_task(worker.serve())
    try:
        yield
    finally:
        worker.should_exit = True
        worker.wake()
        await task


async def until(app: Quarterdeck, run_id: str, status: RunStatus, *, waiting_for: str | None = None) -> RunView:
    """Poll the run until it is ``status`` (waiting for ``waiting_for``, with its approval open)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        view = await app.view(run_id)
        arrived = view.run.status is status and view.run.waiting_for == waiting_for
        if arrived and (status is not RunStatus.WAITING or await app.pending_approvals(run_id)):
            return view
        assert view.run.status is not RunStatus.FAILED or status is RunStatus.FAILED, [
            (t.id, t.status, t.error) for t in view.tasks
        ]
        assert asyncio.get_running_loop().time() < deadline, (view.run, [t.status for t in view.tasks])
        await asyncio.sleep(0.02)


async def test_a_goal_is_planned_re_planned_and_resumed_by_the_worker_process_not_by_a_terminal(
    app: Quarterdeck, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    _crew(repo, boss.url, review.url, SCRIPTED)
    run = await app.start_goal("Say hello", repo=repo, approve=True, actor="ada")
    assert run.status is RunStatus.PLANNING
    assert boss.model_requests() == []  # nothing waited for the manager

    async with serving(app):
        waiting = await until(app, run.id, RunStatus.WAITING, waiting_for="plan")
        assert [t.id for t in waiting.tasks] == ["hello"]
        assert [t.status for t in waiting.tasks] == [TaskStatus.READY]  # ready, but nothing runs before approval
        (plan,) = await app.pending_approvals(run.id)
        assert plan.kind == "plan"
        assert [(t["id"], t["role"], t["criteria"], t["estimate_usd"]) for t in plan.payload["tasks"]] == [
            ("hello", "docs", ["it says hello (run: `true`)"], 0.01)
        ]
        await app.decide(plan.id, approve=True, by="ada", reason="go")

        # the task fails for good: the run waits for the manager's re-plan, and then for a person — never failed
        replanning = await until(app, run.id, RunStatus.WAITING, waiting_for="replan")
        assert {t.id: t.status for t in replanning.tasks} == {"hello": TaskStatus.FAILED}
        (replan,) = await app.pending_approvals(run.id)
        assert (replan.kind, replan.task_id, replan.requested_by) == ("replan", "hello", "manager")
        assert replan.payload["reason"] == REPLAN["reason"]
        assert "grep -qx hello hello.txt" in replan.payload["error"]
        assert [(c["action"], c["task"], [t["id"] for t in c["tasks"]]) for c in replan.payload["changes"]] == [
            ("replace", "hello", ["hello-v2"])
        ]
        await app.decide(replan.id, approve=True, by="ada")
        done = await until(app, run.id, RunStatus.SUCCEEDED)

    assert {t.id: t.status for t in done.tasks} == {"hello": TaskStatus.FAILED, "hello-v2": TaskStatus.SUCCEEDED}
    assert len(boss.model_requests()) == 2  # the plan and the re-plan, each asked once
    types = [e.type for e in await app.events(run.id)]
    assert types.count("run.finished") == 1  # only when it really ended
    assert [e.payload for e in await app.events(run.id) if e.type == "run.waiting"] == [
        {"for": "plan"},
        {"for": "replan"},
    ]
    trail = await audit.trail(app.db, run.id)
    decisions = [(e.sender, e.summary) for e in trail if e.kind == "decision"]
    assert [d for d in decisions if "requested" not in d[1]] == [
        ("ada", "plan approved: go"),
        ("ada", "replan approved"),
    ]
    assert [d[0] for d in decisions if "requested" in d[1]] == ["manager", "manager"]
    told = [(e.sender, e.task_id, e.summary) for e in trail if e.kind == "event"]
    assert told[0] == ("ada", None, "goal given to the manager: Say hello")
    assert ("quarterdeck", None, "waits for a person to decide its replan (task hello)") not in told  # (no task)
    assert ("quarterdeck", None, "waits for a person to decide its replan") in told
    failed = [t for t in told if t[1] == "hello" and t[2].startswith("failed")]
    assert failed
    assert "grep -qx hello hello.txt" in failed[-1][2]
    assert any(t[1] == "hello-v2" and t[2].startswith("landed ") for t in told)
    assert told[-1] == ("quarterdeck", None, "run succeeded")


async def test_without_approve_first_the_plan_and_the_re_plan_apply_at_once(
    app: Quarterdeck, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    _crew(repo, boss.url, review.url, SCRIPTED)
    run = await app.start_goal("Say hello", repo=repo, approve=False, actor="ada")
    async with serving(app):
        done = await until(app, run.id, RunStatus.SUCCEEDED)
    assert [t.id for t in done.tasks] == ["hello", "hello-v2"]
    async with app.db.read() as conn:
        decided = (await conn.execute(sa.text("SELECT kind, status, decided_by FROM approvals"))).all()
    assert [tuple(d) for d in decided] == [("replan", "approved", "quarterdeck")]


async def test_a_spent_budget_opens_a_budget_approval_and_approving_it_resumes(
    settings: Settings, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    # three chained tasks of $0.40 under a $0.80 budget (the manager's plan costs too): the third cannot be afforded
    chain = [_task(f"t{i}", f"Step {i}", "done", "true", [], depends_on=[f"t{i - 1}"] if i else []) for i in range(3)]
    boss.script = Script(Reply.text(json.dumps({"name": "steps", "tasks": chain})))
    _crew(repo, boss.url, review.url, 'runtime = "flat"\noptions = {cost_usd = 0.4}')
    async with Quarterdeck(settings.model_copy(update={"default_reserve_usd": 0.5})) as app:
        app.registry.register(Flat)
        run = await app.start_goal("Three steps", repo=repo, approve=False, actor="ada", budget_usd=0.8)
        async with serving(app):
            short = await until(app, run.id, RunStatus.WAITING, waiting_for="budget")
            assert [t.status for t in short.tasks] == [TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED, TaskStatus.READY]
            (raise_,) = await app.pending_approvals(run.id)
            assert (raise_.kind, raise_.requested_by, raise_.payload["add_usd"]) == ("budget", "quarterdeck", 0.8)
            assert "cannot be afforded" in raise_.payload["reason"]
            await app.decide(raise_.id, approve=True, by="ada", reason="worth it")
            done = await until(app, run.id, RunStatus.SUCCEEDED)
        assert done.run.budget_usd == pytest.approx(1.6)
        trail = await audit.trail(app.db, run.id)
        waits = [e.payload for e in await app.events(run.id) if e.type == "run.waiting"]
    assert waits == [{"for": "budget", "task": "t2"}]
    assert ("ada", "budget approved: worth it") in [(e.sender, e.summary) for e in trail if e.kind == "decision"]
    told = [(e.sender, e.summary) for e in trail if e.kind == "event"]
    assert ("ada", "budget raised by $0.80 to $1.60") in told
    assert ("quarterdeck", "waits for a person to decide its budget (task t2)") in told


async def test_a_rejected_budget_raise_ends_the_run_cancelled_with_its_reason(
    settings: Settings, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    chain = [_task(f"t{i}", f"Step {i}", "done", "true", [], depends_on=[f"t{i - 1}"] if i else []) for i in range(3)]
    boss.script = Script(Reply.text(json.dumps({"name": "steps", "tasks": chain})))
    _crew(repo, boss.url, review.url, 'runtime = "flat"\noptions = {cost_usd = 0.4}')
    async with Quarterdeck(settings.model_copy(update={"default_reserve_usd": 0.5})) as app:
        app.registry.register(Flat)
        run = await app.start_goal("Three steps", repo=repo, approve=False, actor="ada", budget_usd=0.8)
        async with serving(app):
            await until(app, run.id, RunStatus.WAITING, waiting_for="budget")
            (raise_,) = await app.pending_approvals(run.id)
            await app.decide(raise_.id, approve=False, by="ada", reason="not worth more")
            ended = await until(app, run.id, RunStatus.CANCELLED)
        assert [t.status for t in ended.tasks] == [TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED, TaskStatus.CANCELLED]
        assert ended.run.waiting_for is None
        assert await app.pending_approvals(run.id) == []
        cancelled = [e.payload for e in await app.events(run.id) if e.type == "run.cancelled"]
    assert cancelled == [{"tasks": ["t2"], "reason": "budget raise rejected", "by": "ada"}]


async def test_a_process_killed_while_planning_loses_nothing_another_process_plans(
    app: Quarterdeck, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    _crew(repo, boss.url, review.url, SCRIPTED)
    run = await app.start_goal("Say hello", repo=repo, approve=True, actor="ada")
    # A process took the plan step and died before writing the plan: its lease is left to expire.
    async with app.db.transaction() as conn:
        await conn.execute(
            supervision.update()
            .where(supervision.c.run_id == run.id)
            .values(holder="dead-process", lease_expires_at=utcnow() + timedelta(seconds=0.5), tries=1)
        )
    async with serving(app):
        waiting = await until(app, run.id, RunStatus.WAITING, waiting_for="plan")
    assert [t.id for t in waiting.tasks] == ["hello"]
    assert len(boss.model_requests()) == 1
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(supervision).where(supervision.c.run_id == run.id))).one()
    assert (row.step, row.holder) == (None, None)


async def test_a_rejected_re_plan_ends_the_run_failed_for_good(
    app: Quarterdeck, repo: Path, servers: tuple[AnthropicServer, AnthropicServer]
) -> None:
    boss, review = servers
    _crew(repo, boss.url, review.url, SCRIPTED)
    run = await app.start_goal("Say hello", repo=repo, approve=True, actor="ada")
    async with serving(app):
        await until(app, run.id, RunStatus.WAITING, waiting_for="plan")
        (plan,) = await app.pending_approvals(run.id)
        await app.decide(plan.id, approve=True, by="ada")
        await until(app, run.id, RunStatus.WAITING, waiting_for="replan")
        (replan,) = await app.pending_approvals(run.id)
        await app.decide(replan.id, approve=False, by="ada", reason="not worth it")
        failed = await until(app, run.id, RunStatus.FAILED)
    assert failed.run.error == "the re-plan was rejected"
    assert [t.id for t in failed.tasks] == ["hello"]  # nothing of the re-plan was applied
    finished = [e.payload for e in await app.events(run.id) if e.type == "run.finished"]
    assert finished == [{"status": "failed", "reason": "re-plan rejected"}]
