"""``quarterdeck goal``: a manager plans the goal, a human may approve it, the crew builds it, failures re-plan."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import sys
from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.cli.run import report, watch
from quarterdeck.crews import gates, goals, manager, replan
from quarterdeck.crews.config import CrewConfig, load_crew_config
from quarterdeck.crews.models import Asker
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.errors import InputError, PlanError
from quarterdeck.settings import Settings
from quarterdeck.store import crews as crew_store
from quarterdeck.stories import planfile

__all__ = ["drive", "goal"]

#: how many times one run is re-planned before the failure stands
_MAX_REPLANS = 3


@click.command()
@click.argument("text", metavar="GOAL")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The git repository the crew works on (its crew: .quarterdeck/crew.toml or [crew] in config.toml).",
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
def goal(text: str, repo: Path, budget_usd: float | None, approve: bool | None, edit: bool, workers: int) -> None:
    """Give the crew GOAL: the manager plans it, workers build it, the reviewer judges every criterion."""
    interactive = sys.stdin.isatty()
    ask = interactive if approve is None else approve
    settings = Settings()
    console = Console()
    crew = load_crew_config(repo)
    settings = settings.model_copy(update={"limits": {**crew.limits(), **settings.limits}})
    asker = Asker(crew.manager)

    async def _goal() -> RunView | None:
        console.print(f"the manager ({crew.manager.label}) is planning…")
        planned = await manager.plan_goal(text, crew, asker)
        console.print(_plan_table(planned))
        author = None
        if edit:
            planned, author = _edit(planned, console), _user()
        decision = None
        while ask and interactive and decision is None:
            choices = click.Choice(["approve", "edit", "reject"])
            choice = click.prompt("approve, edit or reject this plan?", type=choices, default="approve")
            if choice == "edit":
                planned, author = _edit(planned, console), _user()
            else:
                decision = choice
        async with Quarterdeck(settings) as app:
            started = await goals.start_run(
                app.db,
                app.registry,
                text,
                planned,
                crew,
                asker,
                repo=repo,
                approve=ask,
                org_id=settings.org,
                budget_usd=budget_usd,
                author=author,
            )
            run_id = started.run.id
            console.print(f"run [bold]{run_id}[/]: {len(planned.plan.tasks)} tasks, plan v1")
            approval = started.approval
            if approval is not None and decision is not None:
                decided = await gates.decide(
                    app.db, org_id=approval.org_id, approval_id=approval.id, approve=decision == "approve", by=_user()
                )
                console.print(f"plan {decided.status} by {decided.decided_by}")
                if decided.status != "approved":
                    return await app.view(run_id)
            elif approval is not None and not await _gate(app, approval, interactive, console):
                return None if approval.status == "pending" else await app.view(run_id)
            return await drive(app, run_id, crew, ask=ask, interactive=interactive, workers=workers, console=console)

    view = asyncio.run(_goal())
    if view is not None:
        report(view, settings=settings, console=console, as_json=False)


async def drive(
    app: Quarterdeck,
    run_id: str,
    crew: CrewConfig,
    *,
    ask: bool,
    interactive: bool,
    workers: int,
    console: Console,
    live: bool = True,
) -> RunView:
    """Run a goal's run to its end: a budget running out asks for more, a task failing for good re-plans
    (each under the approval rule ``ask``), up to ``_MAX_REPLANS`` times. ``quarterdeck resume`` drives too."""
    for _ in range(_MAX_REPLANS + 1):
        view = await watch(app, run_id, workers=workers, console=console, live=live)
        if view.run.status is RunStatus.BUDGET_EXHAUSTED:
            if not await _budget_gate(app, view, interactive, console):
                return view
            continue
        failed = [
            t for t in view.tasks if t.status is TaskStatus.FAILED and not (t.checkpoint or {}).get("resolved_by")
        ]
        if view.run.status is not RunStatus.FAILED or not failed:
            return view
        if not await _replan(app, crew, view, failed[0].id, ask, interactive, console):
            return await app.view(run_id)
    return await app.view(run_id)


def _edit(planned: manager.Planned, console: Console) -> manager.Planned:
    """The plan as a human edited it in $EDITOR: validated like any plan, re-opened until it is valid."""
    text = yaml.safe_dump(planned.plan_file, sort_keys=False, allow_unicode=True)
    while True:
        edited = click.edit(text, extension=".yaml", require_save=False)
        if edited is None or not edited.strip():
            raise InputError("the edited plan is empty: nothing was started")
        try:
            plan = planfile.parse_plan(edited, _EDITED)
        except PlanError as exc:
            console.print(f"[red]the edited plan is not valid:[/]\n{exc.message}")
            if not click.confirm("edit it again?", default=True):
                raise
            text = edited
            continue
        plan_file = yaml.safe_load(edited)
        edited_planned = dataclasses.replace(
            planned, plan=plan, plan_file=plan_file, exchange=(*planned.exchange, ("edit", edited))
        )
        console.print(_plan_table(edited_planned))
        return edited_planned


#: the name problems in an edited plan are reported under
_EDITED = "edited-plan.yaml"


def _plan_table(planned: manager.Planned) -> Table:
    table = Table(title=f"plan: {planned.plan.name}", title_justify="left")
    for column in ("id", "role", "title", "depends on", "criteria", "verify", "estimate"):
        table.add_column(column)
    estimates = {t.id: t.estimate_usd for t in planned.draft.tasks}
    for task in planned.plan.tasks:
        estimate = estimates.get(task.id)
        table.add_row(
            task.id,
            task.role or "",
            task.title,
            ", ".join(task.depends_on),
            "\n".join(f"{c.id}. {c.text}" for c in task.acceptance_criteria),
            "\n".join(task.verify),
            f"${estimate:.2f}" if estimate is not None else "",
        )
    return table


async def _gate(app: Quarterdeck, approval: crew_store.ApprovalRecord, interactive: bool, console: Console) -> bool:
    """Decide a pending approval at the terminal, or say how to decide it; True if approved."""
    if not interactive:
        console.print(
            f"{approval.kind} waiting for approval {approval.id}: `quarterdeck approvals approve {approval.id}` "
            f"(or `reject`), then `quarterdeck resume {approval.run_id}`"
        )
        return False
    choice = click.prompt(f"approve this {approval.kind}?", type=click.Choice(["approve", "reject"]), default="approve")
    reason = click.prompt("reason", default="", show_default=False) or None
    decided = await gates.decide(
        app.db, org_id=approval.org_id, approval_id=approval.id, approve=choice == "approve", by=_user(), reason=reason
    )
    console.print(f"{approval.kind} {decided.status} by {decided.decided_by}")
    return decided.status == "approved"


async def _replan(
    app: Quarterdeck, crew: CrewConfig, view: RunView, failed: str, ask: bool, interactive: bool, console: Console
) -> bool:
    """Ask the manager to change the remaining plan after ``failed``; True if the changed plan runs."""
    console.print(f"task {failed} failed for good; the manager is re-planning…")
    asker = Asker(crew.manager)
    proposal = await replan.propose(app.db, view.run.id, failed, crew, asker)
    for change in proposal.changes:
        ids = ", ".join(t["id"] for t in change["tasks"]) or "-"
        console.print(f"  plan v{proposal.version}: {change['action']} {change['task']} → {ids}")
    async with app.db.transaction() as conn:
        approval = await gates.request(
            conn,
            org_id=view.run.org_id,
            kind="replan",
            payload={"version": proposal.version, "reason": proposal.reason},
            requested_by="manager",
            run_id=view.run.id,
            task_id=failed,
        )
    if ask:
        return await _gate(app, approval, interactive, console)
    await gates.decide(app.db, org_id=approval.org_id, approval_id=approval.id, approve=True, by="auto (--yes)")
    return True


async def _budget_gate(app: Quarterdeck, view: RunView, interactive: bool, console: Console) -> bool:
    """A run out of budget asks a human for more; True if it was raised here."""
    add = view.run.budget_usd or 1.0
    async with app.db.transaction() as conn:
        pending = await crew_store.read_approvals(conn, run_id=view.run.id, kind="budget", status="pending")
        approval = pending[0] if pending else None
        if approval is None:
            approval = await gates.request(
                conn,
                org_id=view.run.org_id,
                kind="budget",
                payload={"add_usd": add, "spent_usd": view.run.spent_usd},
                requested_by="quarterdeck",
                run_id=view.run.id,
            )
    console.print(
        f"budget exhausted: ${view.run.spent_usd:.2f} spent of ${view.run.budget_usd or 0:.2f}; "
        f"raising it by ${add:.2f} needs approval"
    )
    return await _gate(app, approval, interactive, console)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
