from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console

from quarterdeck.app import RunView
from quarterdeck.cli import views
from quarterdeck.domain.checkpoints import Checkpoint
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.store.records import RunRecord, TaskRecord

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _task(task_id: str, status: TaskStatus, error: str | None = None) -> TaskRecord:
    return TaskRecord(
        pk=1, run_id="r1", id=task_id, seq=0, title=task_id, prompt="", runtime="shell", options={}, verify=[],
        acceptance_criteria=[], source_path="p", source_line=1, priority=0, path_length=1, max_attempts=1,
        timeout_s=60, budget_usd=None, max_revisions=0, status=status, pending_deps=0, attempts=1, failures=0,
        not_before=None, worker_id=None, lease_token=None, lease_expires_at=None, attempt_id=None,
        commit_sha="abcdef0123456789", checkpoint=Checkpoint(), error=error, created_at=NOW,
        started_at=NOW, finished_at=NOW,
        role=None, revisions=0, allow_empty=False, files=[],
    )  # fmt: skip


def _view() -> RunView:
    run = RunRecord(
        id="r1", name="demo", status=RunStatus.RUNNING, repo_path="/repo", base_ref="abc", integration_branch="qd",
        merge_strategy="squash",
        plan_path="p", budget_usd=2.0, spent_usd=0.5, reserved_usd=0.0, created_at=NOW, updated_at=NOW,
        finished_at=None, error=None, org_id="default", project_id=None, goal=None, waiting_for=None,
    )  # fmt: skip
    tasks = (
        _task("build", TaskStatus.RUNNING),
        _task("done", TaskStatus.SUCCEEDED),
        _task("x", TaskStatus.FAILED, "boom"),
    )
    return RunView(run=run, tasks=tasks)


def test_activity_lines_summarise_agent_events() -> None:
    assert (
        views.activity_line("agent.tool", {"tool": "run_command", "input": ["pytest", "-q"]}) == "run_command pytest -q"
    )
    assert views.activity_line("agent.tool", {"tool": "Write", "input": {"path": "a.py"}}) == "Write a.py"
    assert views.activity_line("verify.result", {"command": "make", "exit_code": 0}) == "verify: make → 0"
    assert views.activity_line("agent.output", {"text": "x"}) is None


def test_the_live_view_shows_progress_money_and_the_latest_tool_call_of_running_tasks() -> None:
    console = Console(record=True, width=140)
    console.print(views.live_view(_view(), {"build": "run_command pytest -q", "done": "stale"}))
    text = console.export_text()
    assert "2/3 finished" in text
    assert "$0.50 spent of $2.00" in text
    assert "run_command pytest -q" in text
    assert "stale" not in text  # only running tasks show what they are doing
    assert "boom" in text
    assert "abcdef012345" in text


def test_a_waiting_run_says_what_it_waits_for_in_tables_and_json() -> None:
    view = _view()
    waiting = RunView(run=replace(view.run, status=RunStatus.WAITING, waiting_for="merge"), tasks=view.tasks)
    assert views.run_state(waiting.run) == "waiting for merge approval"
    assert (
        views.run_state(replace(view.run, status=RunStatus.WAITING, waiting_for="budget")) == "waiting for more budget"
    )
    assert views.run_state(view.run) == "running"
    console = Console(record=True, width=140)
    console.print(views.summary_table(waiting))
    console.print(views.runs_table([waiting.run]))
    assert console.export_text().count("waiting for merge approval") == 2
    shown = views.run_json(waiting)["run"]
    assert (shown["status"], shown["waiting_for"]) == ("waiting", "merge")
