"""Budgets: reserve before an agent step that spends, settle after, stop before overspending, resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.budget import Budget
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext, TokenUsage
from tests.support.gitrepo import git


class MeteredOptions(RuntimeOptions):
    cost_usd: float
    ledger: str


class Metered:
    """A test agent that reports a cost, writes a file and counts its own executions."""

    name: ClassVar[str] = "metered"
    Options: ClassVar[type[RuntimeOptions]] = MeteredOptions

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        assert isinstance(task.options, MeteredOptions)
        ledger = Path(task.options.ledger)
        before = ledger.read_text() if ledger.exists() else ""
        ledger.write_text(f"{before}{task.task_id} budget={task.budget_usd}\n")
        if task.budget_usd is not None and task.budget_usd < task.options.cost_usd:
            # An agent stops at its cap (Claude Code's --max-budget-usd), having spent it.
            return RunResult(ok=False, error="reached its cap", retryable=True, cost_usd=task.budget_usd)
        (task.workdir / f"{task.task_id}.txt").write_text("done\n")
        return RunResult(
            ok=True,
            cost_usd=task.options.cost_usd,
            tokens=TokenUsage(input=1000, output=100),
            model="test-model-1",
            cost_source="agent",
        )


@pytest.fixture
def metered(app: Quarterdeck) -> Iterator[None]:
    app.registry.register(Metered)
    yield
    app.registry.unregister("metered")


def _plan(ledger: Path, n: int, cost: float, reserve: float | None) -> plans.Plan:
    options = {"cost_usd": cost, "ledger": str(ledger)}
    return plans.Plan(
        name="metered",
        tasks=tuple(
            plans.TaskSpec(
                id=f"t{i}",
                title=f"T{i}",
                runtime="metered",
                options=options,
                depends_on=(f"t{i - 1}",) if i else (),
                budget_usd=reserve,
                max_attempts=3,
            )
            for i in range(n)
        ),
    )


def test_budget_arithmetic() -> None:
    assert Budget(None).affords(10**6)
    assert Budget(1.0, spent_usd=0.4, reserved_usd=0.5).remaining_usd == pytest.approx(0.1)
    assert not Budget(1.0, spent_usd=0.8).affords(0.5)
    assert Budget(1.0, spent_usd=0.5).affords(0.5)


@pytest.mark.usefixtures("metered")
async def test_a_small_budget_stops_before_overspending_and_resumes_when_raised(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    record = await app.submit(_plan(ledger, 3, cost=0.4, reserve=0.5), repo=repo, budget_usd=1.0)
    first = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert (first.run.status, first.run.waiting_for) == (RunStatus.WAITING, "budget")
    # t2 ran with what was left ($0.20, less than its $0.50 reservation), stopped at that cap, and its
    # retry found nothing left: the run paused having spent exactly its budget, never more.
    assert first.run.spent_usd == pytest.approx(1.0)
    assert first.run.reserved_usd == pytest.approx(0.0)
    assert [t.status for t in first.tasks] == [TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED, TaskStatus.READY]
    events = [e for e in await app.events(record.id) if e.type == "run.budget_exhausted"]
    assert "budget exhausted: $1.00 spent of $1.00; task 't2' needs $0.50 reserved" in events[0].payload["message"]
    assert await app.add_budget(record.id, 1.0) == pytest.approx(2.0)
    second = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert second.run.status is RunStatus.SUCCEEDED
    assert second.run.spent_usd == pytest.approx(1.4)
    # Each step was capped by the task's budget or, below it, by what the run had left.
    assert ledger.read_text().splitlines() == ["t0 budget=0.5", "t1 budget=0.5", "t2 budget=0.2", "t2 budget=0.5"]
    costs = [e.payload for e in await app.events(record.id) if e.type == "cost.recorded"]
    assert [c["cost_usd"] for c in costs] == [0.4, 0.4, pytest.approx(0.2), 0.4]
    assert {c["model"] for c in costs} == {"test-model-1", "metered"}
    attempts = await app.attempts(second.tasks[2])
    assert [(a.number, a.cost_usd) for a in attempts] == [
        (1, pytest.approx(0.2)),
        (2, 0.0),
        (3, pytest.approx(0.4)),
    ]
    costs_in_git = git(
        repo, "log", "--format=%(trailers:key=Quarterdeck-Cost,valueonly)", second.run.integration_branch
    )
    assert costs_in_git.split() == ["$0.4000"] * 3


@pytest.mark.usefixtures("metered")
async def test_without_a_budget_the_agent_gets_no_cap(app: Quarterdeck, repo: Path, tmp_path: Path) -> None:
    """The default reservation is accounting, not a cap: a step costing more than it runs to the end."""
    ledger = tmp_path / "ledger"
    plan = plans.Plan(
        name="uncapped",
        tasks=(
            plans.TaskSpec(id="big", title="Big", runtime="metered", options={"cost_usd": 3.5, "ledger": str(ledger)}),
        ),
    )
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert view.run.spent_usd == pytest.approx(3.5)
    assert ledger.read_text().splitlines() == ["big budget=None"]
    # With a run budget, the cap is what the run has left, not the reservation.
    record = await app.submit(plan, repo=repo, budget_usd=5.0)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert ledger.read_text().splitlines()[-1] == "big budget=5.0"


@pytest.mark.usefixtures("metered")
async def test_without_a_budget_nothing_stops_and_costs_are_still_recorded(
    app: Quarterdeck, repo: Path, tmp_path: Path
) -> None:
    record = await app.submit(_plan(tmp_path / "ledger", 2, cost=3.0, reserve=None), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    assert view.run.spent_usd == pytest.approx(6.0)
    assert view.run.budget_usd is None
