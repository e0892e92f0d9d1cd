"""Rendering runs for people (Rich tables, a live view) and for programs (JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from quarterdeck.app import RunRecord, TaskRecord
from quarterdeck.app.overview import RunView
from quarterdeck.app.transcript import activity_line
from quarterdeck.domain.statuses import RunStatus, TaskStatus

__all__ = ["activity_line", "live_view", "run_json", "run_state", "runs_table", "summary_table"]

#: what a ``waiting`` run waits for, as a person reads it (``WaitingFor``)
_WAITS = {"plan": "plan approval", "replan": "re-plan approval", "budget": "more budget", "merge": "merge approval"}

_STYLE = {
    TaskStatus.PENDING: "dim",
    TaskStatus.READY: "cyan",
    TaskStatus.RUNNING: "yellow",
    TaskStatus.SUCCEEDED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.CONFLICT: "red bold",
    TaskStatus.BLOCKED: "magenta",
    TaskStatus.CANCELLED: "red dim",
}


def _duration(task: TaskRecord, now: datetime | None = None) -> float | None:
    if task.started_at is None:
        return None
    end = task.finished_at or now or datetime.now(UTC)
    return max(0.0, (end - task.started_at).total_seconds())


def _fmt_seconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"


def run_state(run: RunRecord) -> str:
    """The run's status, saying what a waiting one waits for: ``waiting for merge approval``."""
    if run.status is RunStatus.WAITING and run.waiting_for:
        return f"waiting for {_WAITS.get(run.waiting_for, run.waiting_for)}"
    return str(run.status)


def summary_table(view: RunView, activity: dict[str, str] | None = None) -> Table:
    """Task, status, attempts, duration, commit — one row per task (plus what it is doing, when live)."""
    run = view.run
    money = f"${run.spent_usd:.2f} spent" + (f" of ${run.budget_usd:.2f}" if run.budget_usd is not None else "")
    table = Table(title=f"run {run.id} — {run.name}: {run_state(run)} ({money})", title_justify="left")
    for column in ("task", "status", "attempts", "duration", "commit", "note"):
        table.add_column(column, no_wrap=column != "note", overflow="fold")
    for task in view.tasks:
        note = (task.error or "").splitlines()[0][:80] if task.error else ""
        if (printed := view.failures.get(task.id)) and printed not in note:
            note = f"{note}: {printed}"[:160] if note else printed[:160]
        if not note and activity and task.status is TaskStatus.RUNNING:
            note = activity.get(task.id, "")[:80]
        table.add_row(
            task.id,
            Text(str(task.status), style=_STYLE.get(task.status, "")),
            str(task.attempts),
            _fmt_seconds(_duration(task)),
            (task.commit_sha or "-")[:12],
            note,
        )
    return table


def live_view(view: RunView, activity: dict[str, str] | None = None) -> RenderableType:
    """The live view: a progress bar over finished tasks, then the per-task table."""
    total = len(view.tasks)
    done = sum(1 for t in view.tasks if t.status.terminal)
    counts: dict[str, int] = {}
    for task in view.tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    line = Text(f"{done}/{total} finished  ")
    line.append("  ".join(f"{status}: {n}" for status, n in sorted(counts.items())), style="dim")
    return Group(ProgressBar(total=max(total, 1), completed=done, width=60), line, summary_table(view, activity))


def runs_table(runs: list[RunRecord]) -> Table:
    table = Table(title="runs", title_justify="left")
    for column in ("run", "name", "status", "created", "branch"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run.id, run.name, run_state(run), run.created_at.strftime("%Y-%m-%d %H:%M:%S"), run.integration_branch
        )
    return table


def _task_json(task: TaskRecord, failures: Mapping[str, str]) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "status": str(task.status),
        "attempts": task.attempts,
        "duration_s": _duration(task),
        "commit": task.commit_sha,
        "error": task.error,
        "output_tail": failures.get(task.id),
    }


def run_json(view: RunView, **extra: Any) -> dict[str, Any]:
    run = view.run
    return {
        "run": {
            "id": run.id,
            "name": run.name,
            "status": str(run.status),
            "waiting_for": run.waiting_for,
            "repo": run.repo_path,
            "integration_branch": run.integration_branch,
            "base": run.base_ref,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "budget_usd": run.budget_usd,
            "spent_usd": run.spent_usd,
            **extra,
        },
        "tasks": [_task_json(t, view.failures) for t in view.tasks],
    }
