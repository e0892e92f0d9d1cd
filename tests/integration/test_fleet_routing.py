"""Worker capabilities: a task that requires a label runs only on a worker offering it; one that nobody can take
waits, saying why; the fleet is listed with what each worker offers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from quarterdeck.app import Quarterdeck
from quarterdeck.cli.main import main as cli
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.errors import PlanError
from quarterdeck.settings import Settings
from quarterdeck.stories.planfile import parse_plan
from tests.support.agents import agent_bin


async def _until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _noop(task_id: str, *requires: str) -> plans.TaskSpec:
    return plans.TaskSpec(id=task_id, title=task_id, runtime="noop", requires=tuple(sorted(requires)))


async def test_a_task_requiring_a_label_runs_where_it_is_offered_and_one_nobody_offers_waits(
    settings: Settings, repo: Path
) -> None:
    gpu_settings = settings.model_copy(update={"worker_labels": ["gpu", "region=eu"]})
    async with Quarterdeck(settings) as app, Quarterdeck(gpu_settings) as gpu_app:
        plan = plans.Plan(
            name="routing",
            tasks=(
                *(_noop(f"train-{n}", "gpu") for n in range(3)),
                _noop("eu-noop", "region=eu", "runtime:noop"),
                *(_noop(f"plain-{n}") for n in range(3)),
                _noop("nobody", "gpu", "tpu"),
            ),
        )
        record = await app.submit(plan, repo=repo)
        plain, gpu = app.worker(slots=2), gpu_app.worker(slots=2)
        serving = [asyncio.create_task(w.serve()) for w in (plain, gpu)]
        try:

            async def settled() -> bool:
                tasks = (await app.view(record.id)).tasks
                return sum(t.status is TaskStatus.SUCCEEDED for t in tasks) == len(plan.tasks) - 1

            await _until(settled, "every task but one to succeed")
            tasks = {t.id: t for t in (await app.view(record.id)).tasks}
            ran_on = {t.id: {a.worker_id for a in await app.attempts(t)} for t in tasks.values()}
            fleet = {w.worker.id: w for w in await app.workers()}
            waits = await app.waiting(record.id)
        finally:
            for w in (plain, gpu):
                w.should_exit = True
            await asyncio.wait_for(asyncio.gather(*serving), 60)
        after = {w.worker.id: w for w in await app.workers(gone=True)}
    # routed: what requires gpu or region=eu ran on the worker offering it, and only there
    for task_id in ("train-0", "train-1", "train-2", "eu-noop"):
        assert ran_on[task_id] == {gpu.worker_id}, task_id
    assert tasks["nobody"].status is TaskStatus.READY
    assert tasks["nobody"].attempts == 0
    assert set(waits) == {"nobody"}
    assert "tpu" in waits["nobody"]
    assert gpu.worker_id in waits["nobody"]  # the closest worker, and what it lacks
    # the fleet as the workers reported it
    assert fleet[gpu.worker_id].live
    assert fleet[gpu.worker_id].worker.labels == ("gpu", "region=eu")
    assert "noop" in fleet[plain.worker_id].worker.runtimes
    assert fleet[plain.worker_id].worker.labels == ()
    assert not after[gpu.worker_id].live
    assert after[gpu.worker_id].worker.stopped_at is not None


async def test_the_cli_lists_the_fleet_and_why_a_task_waits(settings: Settings, repo: Path) -> None:
    async with Quarterdeck(settings) as app:
        record = await app.submit(plans.Plan(name="waits", tasks=(_noop("lonely", "gpu"),)), repo=repo)
        worker = app.worker(slots=1)
        serving = asyncio.create_task(worker.serve())
        try:

            async def registered() -> bool:
                return any(w.worker.id == worker.worker_id for w in await app.workers())

            await _until(registered, "the worker to register")
            env = {
                "QUARTERDECK_DATABASE_URL": settings.resolved_database_url(),
                "QUARTERDECK_STATE_DIR": str(settings.state_dir),
            }
            runner = CliRunner()
            listed = await asyncio.to_thread(runner.invoke, cli, ["workers", "--json"], env=env)
            tasks = await asyncio.to_thread(runner.invoke, cli, ["task", "list", record.id], env=env)
        finally:
            worker.should_exit = True
            await asyncio.wait_for(serving, 60)
    assert listed.exit_code == 0, listed.output
    assert worker.worker_id in listed.output
    assert tasks.exit_code == 0, tasks.output
    assert "lonely waits: requires gpu: no live worker offers all of it" in tasks.output


def test_requires_parses_sorted_and_bad_labels_are_refused_with_their_line() -> None:
    plan = parse_plan("name: p\ntasks:\n  - {id: a, title: A, requires: [region=eu, gpu, gpu]}\n", "p.yaml")
    assert plan.tasks[0].requires == ("gpu", "region=eu")
    with pytest.raises(PlanError) as caught:
        parse_plan("name: p\ntasks:\n  - id: a\n    title: A\n    requires: ['has space']\n", "p.yaml")
    assert str(caught.value.problems[0]).startswith("p.yaml:5: 'requires' must be labels")


async def test_a_worker_offers_an_agent_cli_only_where_the_cli_works(
    settings: Settings, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Claude Code is installed here (the pinned CLI); Codex's path names a file that is not an executable.
    broken = tmp_path / "codex"
    broken.write_text("not a program")
    monkeypatch.setenv("QUARTERDECK_CLAUDE_PATH", agent_bin("claude"))
    monkeypatch.setenv("QUARTERDECK_CODEX_PATH", str(broken))
    async with Quarterdeck(settings) as app:
        plan = plans.Plan(
            name="clis",
            tasks=(_noop("needs-claude", "runtime:claude-code"), _noop("needs-codex", "runtime:codex")),
        )
        record = await app.submit(plan, repo=repo)
        worker = app.worker(slots=2)
        serving = asyncio.create_task(worker.serve())
        try:
            await asyncio.wait_for(worker.runtimes_known.wait(), 60)

            async def claude_ran() -> bool:
                tasks = {t.id: t for t in (await app.view(record.id)).tasks}
                return tasks["needs-claude"].status is TaskStatus.SUCCEEDED

            await _until(claude_ran, "the task requiring claude-code to run")
            fleet = {w.worker.id: w for w in await app.workers()}
            waits = await app.waiting(record.id)
        finally:
            worker.should_exit = True
            await asyncio.wait_for(serving, 60)
    offered = fleet[worker.worker_id].worker.runtimes
    assert "claude-code" in offered
    assert "codex" not in offered
    assert "noop" in offered
    assert set(waits) == {"needs-codex"}
    assert "runtime:codex" in waits["needs-codex"]
