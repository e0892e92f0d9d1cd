"""``quarterdeck stats``: how the crew's tasks did, per role, runtime, model, project, run, story, day or week."""

from __future__ import annotations

import asyncio
import json
from typing import cast

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import analytics
from quarterdeck.settings import Settings

__all__ = ["stats"]


async def _report(
    by: analytics.Grouping, since: str | None, until: str | None, project: str | None
) -> analytics.Report:
    async with Quarterdeck(Settings()) as app:
        return await app.analytics(by=by, since=since, until=until, project_id=project)


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}m"


@click.command()
@click.option("--by", type=click.Choice(analytics.GROUPINGS), default="role", show_default=True, help="Group by.")
@click.option("--since", default=None, help="Start of the window: a date, a time or an age (7d, 12h) [default: 30d].")
@click.option("--until", default=None, help="End of the window [default: now].")
@click.option("--project", default=None, help="Only this project's runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats(by: str, since: str | None, until: str | None, project: str | None, as_json: bool) -> None:
    """How the crew's ended tasks did: success (first try and overall), revisions, cost, tokens, time per phase."""
    report = asyncio.run(_report(cast(analytics.Grouping, by), since, until, project))
    if as_json:
        click.echo(json.dumps(report.figures(), indent=2))
        return
    title = f"tasks ended {report.since:%Y-%m-%d %H:%M} – {report.until:%Y-%m-%d %H:%M} UTC, by {by}"
    table = Table(title=title, title_justify="left")
    columns = (by, "tasks", "ok", "1st", "dead", "rev", "$/task", "$", "tokens")
    for column in (*columns, "agent", "checks", "review", "land", "wait"):
        table.add_column(column, justify="left" if column == by else "right")
    rows = [*report.groups, *([report.total] if report.total is not None and len(report.groups) > 1 else [])]
    for group in rows:
        table.add_row(
            "total" if group is report.total else group.key,
            str(group.tasks),
            f"{group.success_rate:.0%}",
            f"{group.first_attempt_rate:.0%}",
            str(group.dead),
            f"{group.revisions_per_task:.2f}",
            f"${group.cost_per_task:.4f}",
            f"${group.cost_usd:.4f}",
            f"{group.input_tokens + group.output_tokens:,}",
            *(_seconds(group.seconds_per_task(p)) for p in ("agent", "checks", "review", "landing", "waiting")),
            style="bold" if group is report.total else None,
        )
    if not rows:
        click.echo(f"No task ended between {report.since:%Y-%m-%d %H:%M} and {report.until:%Y-%m-%d %H:%M} UTC.")
        return
    Console().print(table)
    click.echo(
        "ok / 1st: share succeeded overall / on the first attempt; rev: revisions per task; "
        "times: mean per task (agent, checks, review, landing, waiting for a worker)."
    )
