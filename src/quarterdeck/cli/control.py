"""Steering from the command line: cancel, pause and resume runs; cancel, retry and prioritise tasks."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from rich.console import Console

from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.cli import views
from quarterdeck.cli.run import report, watch
from quarterdeck.domain.statuses import DEAD_TASK, TaskStatus
from quarterdeck.settings import Settings

__all__ = ["budget", "cancel", "pause", "resume", "task"]

T = TypeVar("T")


def _with_app(operation: Callable[[Quarterdeck], Awaitable[T]]) -> T:
    async def _go() -> T:
        async with Quarterdeck(Settings()) as app:
            return await operation(app)

    return asyncio.run(_go())


async def _run_of(app: Quarterdeck, task_id: str, run_id: str | None) -> str:
    return run_id or await app.find_run_of_task(task_id)


_run_option = click.option("--run", "run_id", default=None, help="The run [default: the newest run with TASK].")


@click.command()
@click.argument("run_id", metavar="RUN")
def cancel(run_id: str) -> None:
    """Cancel RUN: unfinished tasks are cancelled, running agents stopped (worktrees kept)."""
    cancelled = _with_app(lambda app: app.cancel_run(run_id, by=_user()))
    click.echo(f"run {run_id} cancelled ({len(cancelled)} unfinished tasks: {', '.join(cancelled) or 'none'})")


@click.command()
@click.argument("run_id", metavar="RUN")
def pause(run_id: str) -> None:
    """Pause RUN: running tasks finish, nothing new starts until `quarterdeck resume`."""
    _with_app(lambda app: app.pause_run(run_id, by=_user()))
    click.echo(f"run {run_id} paused")


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0), help="In-process worker slots.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def resume(run_id: str, workers: int, as_json: bool) -> None:
    """Continue RUN (paused, or left behind by a `quarterdeck run` that died) and wait for it to finish.

    Finished tasks are not run again; tasks a dead process held are taken over when their lease expires.
    """
    settings = Settings()
    console = Console(stderr=as_json)

    async def _resume(app: Quarterdeck) -> RunView:
        if await app.unpause_run(run_id, by=_user()) and not as_json:
            console.print(f"run {run_id} unpaused")
        run = (await app.view(run_id)).run
        if run.goal is not None:  # a crew's run: its approvals are asked here, as under `quarterdeck goal`
            from quarterdeck.cli.goal import drive

            interactive = sys.stdin.isatty()
            return await drive(app, run_id, interactive=interactive, workers=workers, console=console, live=not as_json)
        return await watch(app, run_id, workers=workers, console=console, live=not as_json)

    view = _with_app(_resume)
    report(view, settings=settings, console=console, as_json=as_json)


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--add", "amount", required=True, type=click.FloatRange(min=0, min_open=True), help="USD to add.")
def budget(run_id: str, amount: float) -> None:
    """Raise RUN's budget by --add USD; a run waiting for budget runs again."""
    limit = _with_app(lambda app: app.add_budget(run_id, amount, by=_user()))
    click.echo(f"run {run_id} budget is now ${limit:.2f}; continue it with `quarterdeck resume {run_id}`")


@click.group()
def task() -> None:
    """Look at and steer single tasks."""


@task.command("list")
@click.argument("run_id", metavar="RUN")
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in TaskStatus]))
@click.option(
    "--dead", is_flag=True, help="Only dead letters: failed, conflicted or cancelled (re-queue: `task retry`)."
)
@click.option("--json", "as_json", is_flag=True)
def list_tasks(run_id: str, statuses: tuple[str, ...], dead: bool, as_json: bool) -> None:
    """List RUN's tasks, optionally by status."""
    wanted = set(statuses) | (set(DEAD_TASK) if dead else set())

    async def _read(app: Quarterdeck) -> tuple[RunView, dict[str, str]]:
        return await app.view(run_id), await app.waiting(run_id)

    view, waits = _with_app(_read)
    shown = RunView(view.run, tuple(t for t in view.tasks if not wanted or t.status in wanted))
    if as_json:
        listed = views.run_json(shown)["tasks"]
        for task in listed:
            if task["id"] in waits:
                task["waits"] = waits[task["id"]]
        click.echo(json.dumps(listed, indent=2))
    else:
        Console().print(views.summary_table(shown))
        for task_id, why in waits.items():
            click.echo(f"{task_id} waits: {why}")


@task.command("cancel")
@click.argument("task_id", metavar="TASK")
@_run_option
def cancel_task(task_id: str, run_id: str | None) -> None:
    """Cancel TASK (its agent is stopped; its worktree kept); its dependants are blocked."""

    async def _cancel(app: Quarterdeck) -> tuple[str, list[str]]:
        run = await _run_of(app, task_id, run_id)
        return run, await app.cancel_task(run, task_id, by=_user())

    run, blocked = _with_app(_cancel)
    click.echo(f"task {task_id} of run {run} cancelled; blocked: {', '.join(blocked) or 'none'}")


@task.command("retry")
@click.argument("task_id", metavar="TASK")
@_run_option
def retry_task(task_id: str, run_id: str | None) -> None:
    """Re-queue a failed or cancelled TASK with fresh attempts; what it blocked waits again."""

    async def _retry(app: Quarterdeck) -> tuple[str, list[str]]:
        run = await _run_of(app, task_id, run_id)
        return run, await app.requeue_task(run, task_id, by=_user())

    run, waiting = _with_app(_retry)
    click.echo(f"task {task_id} of run {run} re-queued; waiting again: {', '.join(waiting) or 'none'}")
    click.echo(f"serve it with `quarterdeck resume {run}` or a `quarterdeck worker`")


@task.command("prioritize")
@click.argument("task_id", metavar="TASK")
@click.argument("priority", type=int)
@_run_option
def prioritize(task_id: str, priority: int, run_id: str | None) -> None:
    """Set TASK's priority to PRIORITY (higher is claimed first), effective at once."""

    async def _prioritize(app: Quarterdeck) -> str:
        run = await _run_of(app, task_id, run_id)
        await app.prioritize_task(run, task_id, priority, by=_user())
        return run

    run = _with_app(_prioritize)
    click.echo(f"task {task_id} of run {run} now has priority {priority}")


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@task.command("say")
@click.argument("run_id", metavar="RUN")
@click.argument("task_id", metavar="TASK")
@click.argument("message")
@click.option("--by", default=None, help="Who says it, in the audit trail [default: your login].")
def say(run_id: str, task_id: str, message: str, by: str | None) -> None:
    """Send TASK's agent MESSAGE: after its current turn if it runs, else as a revision or with its retry."""
    said = _with_app(lambda app: app.say(run_id, task_id, message, by=by or _who()))
    how = {
        "after_turn": "its agent gets it after its current turn, in the same session",
        "revision": "the task is reopened: its session continues with it as a revision",
        "retry": "the task is re-queued: its next attempt gets it",
        "with_prompt": "its first attempt gets it with the prompt",
    }[said.delivery]
    click.echo(f"said to task {task_id} of run {run_id} ({said.status}): {how}")


@task.command("edit")
@click.argument("run_id", metavar="RUN")
@click.argument("task_id", metavar="TASK")
@click.option("--prompt", default=None, help="The new prompt.")
@click.option(
    "--prompt-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Read it here."
)
@click.option(
    "--options", "options_json", default=None, help='The new runtime options, as JSON (e.g. \'{"model": "x"}\').'
)
@click.option("--by", default=None, help="Who edits it, in the audit trail [default: your login].")
def edit(
    run_id: str, task_id: str, prompt: str | None, prompt_file: Path | None, options_json: str | None, by: str | None
) -> None:
    """Change a waiting, failed or cancelled TASK's prompt or options before `quarterdeck task retry`."""
    if prompt is not None and prompt_file is not None:
        raise click.UsageError("give --prompt or --prompt-file, not both")
    if prompt_file is not None:
        prompt = prompt_file.read_text(encoding="utf-8")
    options = None
    if options_json is not None:
        try:
            options = json.loads(options_json)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--options is not JSON: {exc}") from None
        if not isinstance(options, dict):
            raise click.UsageError("--options must be a JSON object")
    _with_app(lambda app: app.edit_task(run_id, task_id, by=by or _who(), prompt=prompt, options=options))
    click.echo(
        f"task {task_id} of run {run_id} edited; retry it with `quarterdeck task retry {task_id} --run {run_id}`"
    )


def _user() -> str:
    """Who steers from this terminal, for the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
