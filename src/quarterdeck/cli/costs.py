"""``quarterdeck costs``: spend rolled up per model, day, task or run."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import cast

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck
from quarterdeck.app import costs as cost_rollups
from quarterdeck.settings import Settings

__all__ = ["costs"]


async def _rollups(by: cost_rollups.Grouping, run_id: str | None) -> list[cost_rollups.CostRollup]:
    async with Quarterdeck(Settings()) as app:
        return await cost_rollups.read_cost_rollups(app.db, by=by, run_id=run_id)


@click.command()
@click.option("--run", "run_id", default=None, help="Only this run's costs [default: every run].")
@click.option(
    "--by", type=click.Choice(["model", "day", "task", "run"]), default="model", show_default=True, help="Group by."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rollups as JSON.")
def costs(run_id: str | None, by: str, as_json: bool) -> None:
    """What agents spent, per model, day (UTC), task or run; unpriced rows have an unknown cost."""
    rollups = asyncio.run(_rollups(cast(cost_rollups.Grouping, by), run_id))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rollups], indent=2))
        return
    title = f"costs by {by}" + (f" in run {run_id}" if run_id else "")
    table = Table(title=title, title_justify="left")
    for column in (by, "calls", "input tokens", "output tokens", "cost", "unpriced"):
        table.add_column(column, justify="left" if column == by else "right")
    for r in rollups:
        table.add_row(
            r.key, str(r.entries), f"{r.input_tokens:,}", f"{r.output_tokens:,}", _shown(r.cost_usd, r), str(r.unpriced)
        )
    total = sum(r.cost_usd for r in rollups)
    unpriced = sum(r.unpriced for r in rollups)
    entries = sum(r.entries for r in rollups)
    whole = cost_rollups.CostRollup("total", entries, 0, 0, total, unpriced)
    table.add_row("total", str(entries), "", "", _shown(total, whole), str(unpriced), style="bold")
    Console().print(table)


def _shown(cost_usd: float, rollup: cost_rollups.CostRollup) -> str:
    """A cost as printed: calls of a model missing from the price table have an unknown cost, never "$0"."""
    if rollup.unpriced and rollup.unpriced >= rollup.entries:
        return "unpriced"
    return f"${cost_usd:.4f}" + (f" + {rollup.unpriced} unpriced" if rollup.unpriced else "")
