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
from quarterdeck.settings import Settings
from quarterdeck.store import costs as cost_store

__all__ = ["costs"]


async def _rollups(by: cost_store.Grouping, run_id: str | None) -> list[cost_store.CostRollup]:
    async with Quarterdeck(Settings()) as app, app.db.read() as conn:
        return await cost_store.read_cost_rollups(conn, by=by, run_id=run_id)


@click.command()
@click.option("--run", "run_id", default=None, help="Only this run's costs [default: every run].")
@click.option(
    "--by", type=click.Choice(["model", "day", "task", "run"]), default="model", show_default=True, help="Group by."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rollups as JSON.")
def costs(run_id: str | None, by: str, as_json: bool) -> None:
    """What agents spent, per model, day (UTC), task or run; unpriced rows have an unknown cost."""
    rollups = asyncio.run(_rollups(cast(cost_store.Grouping, by), run_id))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rollups], indent=2))
        return
    title = f"costs by {by}" + (f" in run {run_id}" if run_id else "")
    table = Table(title=title, title_justify="left")
    for column in (by, "calls", "input tokens", "output tokens", "cost", "unpriced"):
        table.add_column(column, justify="left" if column == by else "right")
    for r in rollups:
        table.add_row(
            r.key, str(r.entries), f"{r.input_tokens:,}", f"{r.output_tokens:,}", f"${r.cost_usd:.4f}", str(r.unpriced)
        )
    total = sum(r.cost_usd for r in rollups)
    table.add_row("total", str(sum(r.entries for r in rollups)), "", "", f"${total:.4f}", "", style="bold")
    Console().print(table)
