"""``quarterdeck worker``: a worker process serving every run in the database."""

from __future__ import annotations

import asyncio

import click

from quarterdeck.app import Quarterdeck
from quarterdeck.cli.signals import graceful
from quarterdeck.settings import Settings

__all__ = ["worker"]


@click.command()
@click.option("--slots", default=1, show_default=True, type=click.IntRange(1), help="Attempts run at once.")
@click.option("--run", "run_id", default=None, help="Only serve this run.")
def worker(slots: int, run_id: str | None) -> None:
    """Claim and run ready tasks until stopped (SIGINT/SIGTERM drains; a second one stops now)."""

    async def _serve() -> None:
        async with Quarterdeck(Settings()) as app:
            w = app.worker(slots=slots, run_id=run_id)
            click.echo(f"worker {w.worker_id} serving {run_id or 'all runs'} with {slots} slot(s)", err=True)
            with graceful(w):
                await w.serve()

    asyncio.run(_serve())
