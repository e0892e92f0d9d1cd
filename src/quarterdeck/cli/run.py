"""``quarterdeck run``: start a run and watch it until it ends."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live

from quarterdeck import stories
from quarterdeck.app import Quarterdeck, RunView, repository
from quarterdeck.cli import views
from quarterdeck.cli.main import EXIT_FAILED, EXIT_WAITING
from quarterdeck.cli.signals import graceful
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, WaitingFor
from quarterdeck.llm import cassette
from quarterdeck.llm.provider import ProviderError
from quarterdeck.runtimes.registry import Registry
from quarterdeck.settings import Settings, default_state_dir, mask_url

__all__ = ["next_steps", "report", "run", "watch", "with_cassette"]


@click.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--repo",
    default=".",
    show_default=True,
    help="The git repository the agents work on: a local path, or a git URL its workers fetch and push "
    "(https://, ssh://, git://, file://, user@host:path).",
)
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(0),
    help="Attempts run at once in this process (0: leave the work to `quarterdeck worker`s).",
)
@click.option("--base", default="HEAD", show_default=True, help="Where the integration branch starts.")
@click.option("--branch", default=None, help="Integration branch [default: quarterdeck/<run-id>].")
@click.option(
    "--deps",
    type=click.Choice(["sequential", "explicit"]),
    default=None,
    help="Dependency policy for ordered story formats.",
)
@click.option(
    "--budget",
    "budget_usd",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="The most the run may spend, in USD; it waits for more budget before going over.",
)
@click.option(
    "--merge-strategy",
    type=click.Choice(["squash", "merge", "rebase"]),
    default=None,
    help="squash: one commit per task; merge: a merge commit per task; rebase: the task's commits, replayed "
    "[default: the project's [merge] strategy, else squash].",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record every model exchange of the run into this new cassette file (JSON lines).",
)
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Answer every model call from this cassette: offline, no keys, nothing spent at a provider.",
)
@click.option(
    "--agent",
    metavar="claude-code|codex|gemini|api-agent|…",
    default=None,
    help="The agent of every task that names no runtime (story files, plans without one) "
    "[default: the project's [run] agent in .quarterdeck/config.toml].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON instead of the live view.")
def run(
    plan_path: Path,
    repo: str | Path,
    workers: int,
    base: str,
    branch: str | None,
    deps: str | None,
    budget_usd: float | None,
    merge_strategy: str | None,
    record_path: Path | None,
    replay_path: Path | None,
    as_json: bool,
    agent: str | None = None,
) -> None:
    """Run PLAN (a plan file or a story folder) on REPO and wait for it to finish."""
    settings = Settings()
    where = repository(str(repo))
    tape = _cassette_option(record_path, replay_path)
    loaded = stories.load_plan(plan_path, deps=deps)
    stories.require_tasks(loaded, plan_path)
    console = Console(stderr=as_json)

    async def _run() -> RunView:
        async with Quarterdeck(settings) as app:
            plan = await app.choose(loaded.plan, repo=where, agent=agent)
            if tape is not None:
                plan, taping = with_cassette(plan, app.registry, *tape)
                if not taping:
                    console.print(
                        f"[yellow]warning:[/] no task of this plan calls a model through Quarterdeck (api-agent): "
                        f"--{tape[0]} has nothing to {tape[0]}"
                    )
            # Everything `quarterdeck plan` checks, agents and keys included, before anything is created.
            plan = await app.check(plan, repo=where)
            record = await app.submit(
                plan, repo=where, base=base, branch=branch, budget_usd=budget_usd, merge_strategy=merge_strategy
            )
            if not as_json:
                console.print(
                    f"run [bold]{record.id}[/] started: {len(loaded.plan.tasks)} tasks, {workers} worker slot(s)"
                )
            return await watch(app, record.id, workers=workers, console=console, live=not as_json)

    report(asyncio.run(_run()), settings=settings, console=console, as_json=as_json)


def _cassette_option(record: Path | None, replay: Path | None) -> tuple[str, Path] | None:
    """``("record", path)`` or ``("replay", path)``, checked before anything starts; None without either flag."""
    if record is not None and replay is not None:
        raise click.UsageError("--record and --replay exclude each other: record a run, then replay it")
    if record is not None:
        path = record.resolve()
        if path.exists() and path.stat().st_size > 0:
            raise click.BadParameter(
                f"{path} already holds a recording; remove it or record into a new file", param_hint="--record"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return "record", path
    if replay is not None:
        path = replay.resolve()
        try:
            cassette.read_exchanges(path)
        except ProviderError as exc:
            raise click.BadParameter(exc.message, param_hint="--replay") from None
        return "replay", path
    return None


def with_cassette(plan: plans.Plan, registry: Registry, mode: str, path: Path) -> tuple[plans.Plan, int]:
    """``plan`` with ``path`` as the ``record`` or ``replay`` option of every task whose runtime takes them.

    The flag replaces a task's own ``record``/``replay`` option. The option travels with the task in the
    database, so ``quarterdeck worker`` processes serving the run record into (or replay from) the same
    file. Returns the plan and how many tasks it touched.
    """
    tasks: list[plans.TaskSpec] = []
    touched = 0
    for task in plan.tasks:
        if (
            task.runtime in registry.names()
            and {"record", "replay"} <= registry.get(task.runtime).Options.model_fields.keys()
        ):
            options = {k: v for k, v in task.options.items() if k not in ("record", "replay")}
            task = dataclasses.replace(task, options={**options, mode: str(path)})
            touched += 1
        tasks.append(task)
    return dataclasses.replace(plan, tasks=tuple(tasks)), touched


async def watch(app: Quarterdeck, run_id: str, *, workers: int, console: Console, live: bool) -> RunView:
    """Serve a run with ``workers`` in-process slots (0: others serve it) and show it live until it ends."""
    worker = app.worker(slots=workers, run_id=run_id) if workers else None
    with (
        Live(console=console, auto_refresh=False, transient=False) if live and console.is_terminal else _NoLive()
    ) as display:
        activity: dict[str, str] = {}
        last_event = 0

        async def tick(view: RunView) -> None:
            nonlocal last_event
            for event in await app.events(run_id, after_id=last_event):
                last_event = event.id
                if event.task_id is not None and (line := views.activity_line(event.type, event.payload)):
                    activity[event.task_id] = line
            display.update(views.live_view(view, activity), refresh=True)

        # the run's pull request follows it here too, when its repository has a [forge] (docs/pull-requests.md)
        follower = app.forge_follower(repo=(await app.view(run_id)).run.repo_path)
        following = asyncio.create_task(follower.serve()) if follower is not None else None
        try:
            if worker is None:
                return await app.run_until_done(run_id, worker=None, on_tick=tick)
            with graceful(worker):
                return await app.run_until_done(run_id, worker=worker, on_tick=tick)
        finally:
            if follower is not None and following is not None:
                follower.should_exit = True
                follower.wake()
                await following


def report(view: RunView, *, settings: Settings, console: Console, as_json: bool) -> None:
    """Print the outcome (table or JSON); exit 0 if the run succeeded, 3 if it waits for a person, else 1."""
    where = {"database": mask_url(settings.resolved_database_url())}
    if as_json:
        click.echo(json.dumps(views.run_json(view, **where), indent=2))
    else:
        console.print(views.summary_table(view))
        # Plain echo: paths must stay whole and copyable, never wrapped by the console.
        click.echo(f"database:           {where['database']}")
        click.echo(f"repository:         {view.run.repo_path}")
        click.echo(f"integration branch: {view.run.integration_branch}")
        if view.run.status is RunStatus.WAITING and view.run.waiting_for == WaitingFor.BUDGET:
            click.echo(
                f"run {view.run.id} waits for budget (${view.run.spent_usd:.2f} spent of "
                f"${view.run.budget_usd or 0:.2f}); raise it with `quarterdeck budget {view.run.id} --add USD` "
                f"(or approve its budget approval), then `quarterdeck resume {view.run.id}`"
            )
        elif view.run.status is RunStatus.WAITING and view.run.waiting_for == WaitingFor.MERGE:
            click.echo(
                f"run {view.run.id} waits for merge approval: `quarterdeck approvals list --run {view.run.id}`; "
                f"its other tasks go on in any `quarterdeck serve` or `worker` (or `quarterdeck resume {view.run.id}`)"
            )
        elif view.run.status is RunStatus.WAITING:
            click.echo(
                f"run {view.run.id} waits for a person to decide its {view.run.waiting_for}: "
                f"`quarterdeck approvals list --run {view.run.id}`"
            )
        elif not view.run.status.terminal:
            click.echo(f"run {view.run.id} is {view.run.status}; continue it with `quarterdeck resume {view.run.id}`")
        for line in next_steps(view, settings):
            click.echo(line)
    if view.run.status is RunStatus.WAITING:
        sys.exit(EXIT_WAITING)
    if view.run.status is not RunStatus.SUCCEEDED:
        sys.exit(EXIT_FAILED)


def next_steps(view: RunView, settings: Settings) -> list[str]:
    """Where to look next: the run from any directory, a task's transcript, the dashboard."""
    qd = "quarterdeck"
    if settings.state_dir.resolve() != default_state_dir().resolve():
        qd = f"quarterdeck --state-dir {settings.state_dir.resolve()}"
    failed = next((t.id for t in view.tasks if t.status.value in ("failed", "conflict")), None)
    task = failed or (view.tasks[-1].id if view.tasks else "TASK")
    run_id = view.run.id
    steps = [
        (f"{qd} status {run_id}", "this run again, from any directory"),
        (f"{qd} logs {run_id} {task}", "what the agent did and what its checks printed"),
        (f"{qd} serve", f"the dashboard: http://127.0.0.1:8400/runs/{run_id}"),
    ]
    width = max(len(command) for command, _ in steps)
    return ["next:", *(f"  {command:<{width}}  # {why}" for command, why in steps)]


class _NoLive:
    """Stands in for rich's Live when output is not a terminal (CI logs, pipes)."""

    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: object, **__: object) -> None:
        return None
