"""``quarterdeck logs RUN [TASK]``: what a run's agents said and ran, and what their checks printed."""

from __future__ import annotations

import asyncio

import click

__all__ = ["logs"]

#: how often --follow looks for new events
_POLL_S = 0.5
_BATCH = 1000


@click.command()
@click.argument("run_id", metavar="RUN")
@click.argument("task_id", metavar="[TASK]", required=False)
@click.option("--attempt", type=click.IntRange(1), default=None, help="Only this attempt (1 is the first).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
def logs(run_id: str, task_id: str | None, attempt: int | None, follow: bool) -> None:
    """Print what a run's tasks did: agent transcripts, check output, errors.

    With TASK, that task only; without, every task's lines, each prefixed with its task. The raw
    agent streams (JSON lines) stay in the worktree folder under <run>/.agents/.
    """
    from quarterdeck.app import Quarterdeck, transcript
    from quarterdeck.settings import Settings

    async def _logs() -> None:
        async with Quarterdeck(Settings()) as app:
            view = await app.view(run_id)
            tasks = [t for t in view.tasks if task_id is None or t.id == task_id]
            if task_id is not None and not tasks:
                from quarterdeck.errors import NotFound

                raise NotFound(f"run {run_id!r} has no task {task_id!r}")
            numbers: dict[str, int] = {}
            last = 0
            shown_attempt: dict[str, str] = {}
            while True:
                for task in tasks:
                    for record in await app.attempts(task):
                        numbers[record.id] = record.number
                batch = await app.events(
                    run_id, after_id=last, task_id=task_id, types=transcript.TRANSCRIPT_EVENTS, limit=_BATCH
                )
                more = len(batch) == _BATCH
                for event in batch:
                    last = event.id
                    if event.task_id is None:
                        continue
                    number = numbers.get(event.attempt_id or "")
                    if attempt is not None and number != attempt:
                        continue
                    if event.attempt_id and shown_attempt.get(event.task_id) != event.attempt_id:
                        shown_attempt[event.task_id] = event.attempt_id
                        click.echo(f"── {event.task_id} · attempt {number or '?'} ──")
                    prefix = "" if task_id is not None else f"{event.task_id}| "
                    for line in transcript.lines(event):
                        click.echo(prefix + line)
                if more:
                    continue
                if not follow:
                    return
                if not batch:
                    run = (await app.view(run_id)).run
                    if run.status.terminal:
                        return
                    await asyncio.sleep(_POLL_S)

    asyncio.run(_logs())
