"""``quarterdeck plan PATH``: read stories in any supported format and show the DAG they make."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from quarterdeck import stories
from quarterdeck.domain import durations, plans
from quarterdeck.errors import PlanError, QuarterdeckError

__all__ = ["plan", "plan_json"]


async def _check(plan: plans.Plan, *, repo: Path, agent: str | None) -> plans.Plan:
    from quarterdeck.app import Quarterdeck
    from quarterdeck.settings import Settings

    async with Quarterdeck(Settings()) as app:
        return await app.check(plan, repo=repo, agent=agent)


def plan_json(loaded: stories.LoadedPlan) -> dict[str, Any]:
    """The ``--json`` document: tasks to schedule, levels, critical path and skipped files."""
    return {
        "tasks": [
            {
                "id": t.id,
                "title": t.title,
                "status": loaded.status_of(t.id),
                "depends_on": list(t.depends_on),
                "acceptance_criteria": [{"id": c.id, "text": c.text} for c in t.acceptance_criteria],
                "verify": list(t.verify),
                "estimate_s": t.estimate_s,
                "source": {"path": t.source.path, "line": t.source.line},
            }
            for t in loaded.plan.tasks
        ],
        "levels": plans.levels(loaded.plan),
        "critical_path": plans.critical_path(loaded.plan),
        "skipped": [{"path": s.path, "reason": s.reason} for s in loaded.skipped],
    }


def _show(loaded: stories.LoadedPlan, console: Console) -> None:
    shown = {r.safe_id: r.id for r in loaded.records}
    titles = {t.id: t.title for t in loaded.plan.tasks}

    def name(task_id: str) -> str:
        written = shown.get(task_id, task_id)
        return task_id if written == task_id else f"{task_id} ({written})"

    count = len(loaded.plan.tasks)
    console.print(f"[bold]{loaded.plan.name}[/bold]: {count} task{'s' * (count != 1)} to schedule")
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    estimated = any(t.estimate_s is not None for t in loaded.plan.tasks)
    for column in ("level", "id", "status", "title", "waits for", *(("estimate",) if estimated else ())):
        table.add_column(column)
    by_id = loaded.plan.by_id()
    for depth, level in enumerate(plans.levels(loaded.plan)):
        for task_id in level:
            task = by_id[task_id]
            estimate = "—" if task.estimate_s is None else durations.describe(task.estimate_s)
            table.add_row(
                str(depth),
                name(task_id),
                loaded.status_of(task_id),
                titles[task_id],
                ", ".join(task.depends_on) or "—",
                *((estimate,) if estimated else ()),
            )
    if count:
        console.print(table)
        path = plans.critical_path(loaded.plan)
        line = " → ".join(path)
        if estimated:  # the path's estimated time: its first task's weighted path
            line += f" ({durations.describe(plans.path_estimates_ms(loaded.plan)[path[0]] / 1000)} estimated)"
        console.print("[bold]critical path[/bold]: " + line)
    if loaded.skipped:
        console.print(f"[bold]skipped[/bold] ({len(loaded.skipped)}):")
        for skipped in loaded.skipped:
            console.print(f"  {skipped.path}: {skipped.reason}", markup=False)


@click.command("plan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--deps",
    type=click.Choice(list(stories.POLICIES)),
    default=None,
    help="Dependency policy: 'sequential' links each story to the one before it (default for BMAD, "
    "spec-kit and Kiro); 'explicit' uses only what is written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--prompt-template",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A string.Template file for the agent prompt (see docs/stories.md).",
)
@click.option(
    "--agent",
    metavar="claude-code|codex|gemini|api-agent|…",
    default=None,
    help="The agent of every task that names no runtime, as `quarterdeck run --agent` takes it.",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The repository the plan would run on (its .quarterdeck/config.toml may choose the agent).",
)
def plan(
    path: Path, deps: str | None, as_json: bool, prompt_template: Path | None, agent: str | None, repo: Path
) -> None:
    """Read a story file or folder, check it as `quarterdeck run` would and print the DAG it makes.

    Checks every task's runtime and options, the agent CLIs and provider keys it needs; exit 2 with one
    path:line: message per problem.
    """
    try:
        loaded = stories.load_plan(path, deps=deps, prompt_template=prompt_template)
        loaded = dataclasses.replace(loaded, plan=asyncio.run(_check(loaded.plan, repo=repo, agent=agent)))
    except PlanError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise SystemExit(2) from None
    except QuarterdeckError as exc:
        click.echo(exc.message, err=True)
        raise SystemExit(2) from None
    if as_json:
        click.echo(json.dumps(plan_json(loaded), ensure_ascii=False))
        return
    _show(loaded, Console(highlight=False, soft_wrap=True))
