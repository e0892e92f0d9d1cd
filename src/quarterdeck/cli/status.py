"""``quarterdeck status``: the latest runs, or one run's tasks — read without loading the engine."""

from __future__ import annotations

import json

import click

__all__ = ["status"]


@click.command()
@click.argument("run_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(run_id: str | None, as_json: bool) -> None:
    """Show one run's tasks, or the latest runs."""
    # On SQLite the reads skip SQLAlchemy, pydantic and asyncio (see quarterdeck.app.overview): keep it that way.
    from rich.console import Console

    from quarterdeck.app import overview
    from quarterdeck.cli import views
    from quarterdeck.errors import NotFound

    url = overview.database_url()
    if overview.database_missing(url):  # nothing to show, and nothing to create
        if run_id is not None:
            raise NotFound(f"no run {run_id!r}")
        if as_json:
            click.echo("[]")
        else:
            click.echo(
                f"no runs yet in {overview.shown_url(url)}; try `quarterdeck demo`, or `quarterdeck run PLAN --agent …`"
            )
        return
    console = Console()
    if run_id is None:
        runs = overview.latest_runs(url)
        if as_json:
            click.echo(json.dumps([{"id": r.id, "name": r.name, "status": str(r.status)} for r in runs]))
        else:
            console.print(views.runs_table(runs))
            click.echo(f"database: {overview.shown_url(url)}")
        return
    view = overview.read_view(url, run_id, failures=True)
    if as_json:
        click.echo(json.dumps(views.run_json(view), indent=2))
    else:
        console.print(views.summary_table(view))
