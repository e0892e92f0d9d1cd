"""``quarterdeck goal``: a client that gives the crew a goal and watches it, answering its approvals at a terminal.

The manager plans, re-plans and asks for budget server-side (``crews.supervisor``), in any process that runs
workers; this command runs some too (``--workers``), so a goal needs nothing else running."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from quarterdeck.app import ApprovalRecord, Quarterdeck, RunView, repository
from quarterdeck.cli.run import report, watch
from quarterdeck.crews import goals
from quarterdeck.crews.config import load_crew_config
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import InputError, PlanError
from quarterdeck.settings import Settings
from quarterdeck.stories import planfile

__all__ = ["drive", "goal"]


@click.command()
@click.argument("text", metavar="GOAL")
@click.option(
    "--repo",
    default=".",
    show_default=True,
    help="The git repository the crew works on (its crew: .quarterdeck/crew.toml or [crew] in config.toml): a local "
    "path, or a git URL its workers fetch and push (docs/fleet.md).",
)
@click.option(
    "--budget",
    "budget_usd",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The most the run may spend, in USD (raising it later needs an approval).",
)
@click.option(
    "--approve/--yes",
    "approve",
    default=None,
    help="Ask a human to approve the plan (and re-plans) before they run, or run them at once "
    "[default: ask when a terminal is attached].",
)
@click.option(
    "--edit",
    is_flag=True,
    help="Open the manager's plan in $EDITOR before anything runs (at a terminal, the approval prompt offers it too).",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0), help="In-process worker slots.")
def goal(text: str, repo: str, budget_usd: float | None, approve: bool | None, edit: bool, workers: int) -> None:
    """Give the crew GOAL: the manager plans it, workers build it, the reviewer judges every criterion."""
    interactive = sys.stdin.isatty()
    ask = interactive if approve is None else approve
    settings = Settings()
    console = Console()
    where = repository(repo)
    crew = load_crew_config(where) if isinstance(where, Path) else None  # (a remote's: read once the run exists)
    if crew is not None:
        settings = settings.model_copy(update={"limits": {**crew.limits(), **settings.limits}})

    async def _goal() -> RunView:
        nonlocal crew
        async with Quarterdeck(settings) as app:
            run = await app.start_goal(text, repo=where, approve=ask or edit, actor=_user(), budget_usd=budget_usd)
            crew = crew or await app.run_crew(run)
            console.print(f"run [bold]{run.id}[/]: the manager ({crew.manager.label}) is planning…")
            return await drive(
                app, run.id, interactive=interactive, workers=workers, console=console, ask=ask, edit=edit
            )

    view = asyncio.run(_goal())
    if view.run.status is RunStatus.FAILED and view.run.error and not view.tasks:  # the goal could not be planned
        click.echo(f"error: {view.run.error}", err=True)
    report(view, settings=settings, console=console, as_json=False)


async def drive(
    app: Quarterdeck,
    run_id: str,
    *,
    interactive: bool,
    workers: int,
    console: Console,
    live: bool = True,
    ask: bool = True,
    edit: bool = False,
) -> RunView:
    """Serve a goal's run and watch it until it ends or waits for a person; at a terminal, ask that person.

    The decisions themselves (planning, re-planning after a task failed for good, asking for more budget) are
    taken by the supervisor of whichever process runs workers, this one included; this only answers the
    approvals they open. ``quarterdeck resume`` drives too."""
    while True:
        view = await watch(app, run_id, workers=workers, console=console, live=live)
        if view.run.status is not RunStatus.WAITING:
            return view
        pending = await app.pending_approvals(run_id, org_id=view.run.org_id)
        if not pending:
            return view
        approval = pending[0]
        _show(approval, console)
        if edit and approval.kind == "plan":
            edit = False
            text = _edit(approval.payload.get("plan_file") or {}, console)
            approval = await app.edit_plan(approval.id, text, by=_user(), org_id=view.run.org_id)
            _show(approval, console)
            if not ask:  # --yes --edit: the edit is the approval
                await app.decide(approval.id, approve=True, by=_user(), reason="edited", org_id=view.run.org_id)
                continue
        if not interactive:
            console.print(
                f"{approval.kind} waiting for approval {approval.id}: `quarterdeck approvals approve {approval.id}` "
                f"(or `reject`); the run goes on in any `quarterdeck serve` or `worker` (or `quarterdeck resume "
                f"{run_id}`)"
            )
            return view
        choices = ["approve", "edit", "reject"] if approval.kind == "plan" else ["approve", "reject"]
        while (choice := click.prompt(f"{' / '.join(choices)} this {approval.kind}?", type=click.Choice(choices),
                                      default="approve")) == "edit":  # fmt: skip
            text = _edit(approval.payload.get("plan_file") or {}, console)
            approval = await app.edit_plan(approval.id, text, by=_user(), org_id=view.run.org_id)
            _show(approval, console)
        reason = None if choice == "approve" else click.prompt("reason", default="", show_default=False) or None
        decided = await app.decide(
            approval.id, approve=choice == "approve", by=_user(), reason=reason, org_id=view.run.org_id
        )
        console.print(f"{approval.kind} {decided.status} by {decided.decided_by}")


def _show(approval: ApprovalRecord, console: Console) -> None:
    """What an approval asks: the whole plan, the re-plan's changes and why, the budget raise and why."""
    payload = approval.payload
    if approval.kind == "plan":
        console.print(_plan_table(payload))
    elif approval.kind == "replan":
        console.print(f"task {payload.get('task')} failed for good: {str(payload.get('error') or '')[:300]}")
        console.print(f"the manager re-planned (plan v{payload.get('version')}): {payload.get('reason', '')}")
        for change in payload.get("changes", []):
            ids = ", ".join(t["id"] for t in change["tasks"]) or "-"
            console.print(f"  {change['action']} {change['task']} → {ids}")
    elif approval.kind == "budget":
        console.print(f"budget exhausted: {payload.get('reason', '')}")


def _edit(plan_file: dict[str, Any], console: Console) -> str:
    """The plan as a person edited it in $EDITOR, re-opened until it is a valid plan."""
    text = yaml.safe_dump(plan_file, sort_keys=False, allow_unicode=True)
    while True:
        edited = click.edit(text, extension=".yaml", require_save=False)
        if edited is None or not edited.strip():
            raise InputError("the edited plan is empty: nothing was changed")
        try:
            planfile.parse_plan(edited, _EDITED)
        except PlanError as exc:
            console.print(f"[red]the edited plan is not valid:[/]\n{exc.message}")
            if not click.confirm("edit it again?", default=True):
                raise
            text = edited
            continue
        return edited


#: the name problems in an edited plan are reported under
_EDITED = goals.EDITED


def _plan_table(payload: dict[str, Any]) -> Table:
    total = payload.get("estimate_usd")
    title = f"plan v{payload.get('version', 1)}" + (f" (estimate ${total:.2f})" if total is not None else "")
    table = Table(title=title, title_justify="left")
    for column in ("id", "role", "title", "depends on", "criteria", "verify", "estimate"):
        table.add_column(column)
    for task in payload.get("tasks", []):
        estimate = task.get("estimate_usd")
        table.add_row(
            task["id"],
            task.get("role") or "",
            task["title"],
            ", ".join(task.get("depends_on", [])),
            "\n".join(f"{n}. {c}" for n, c in enumerate(task.get("criteria", []), 1)),
            "\n".join(task.get("verify", [])),
            f"${estimate:.2f}" if estimate is not None else "",
        )
    return table


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
