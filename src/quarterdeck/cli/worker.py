"""``quarterdeck worker``: a worker process serving every run in the database."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from quarterdeck.app import Quarterdeck
from quarterdeck.bus.relay import RelayPublisher
from quarterdeck.cli.signals import graceful
from quarterdeck.cli.worker_processes import RELAY_ENV
from quarterdeck.settings import Settings

__all__ = ["worker"]


@click.command()
@click.option("--slots", default=1, show_default=True, type=click.IntRange(1), help="Attempts run at once.")
@click.option("--run", "run_id", default=None, help="Only serve this run.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="What this worker offers tasks that require it (`requires:`), e.g. gpu or region=eu; repeatable "
    "(besides QUARTERDECK_WORKER_LABELS).",
)
def worker(slots: int, run_id: str | None, labels: tuple[str, ...] = ()) -> None:
    """Claim and run ready tasks until stopped (SIGINT/SIGTERM drains; a second one stops now)."""
    settings = Settings()
    if labels:
        settings = settings.model_copy(update={"worker_labels": [*settings.worker_labels, *labels]})

    async def _serve() -> None:
        async with Quarterdeck(settings) as app:
            relay = os.environ.get(RELAY_ENV)
            publisher = RelayPublisher(Path(relay)) if relay and app.bus is None else None
            if publisher is not None:
                # started by `serve`: its API process takes our events from this socket (bus/relay.py)
                app.db.add_commit_listener(publisher)
                await publisher.connect()
            w = app.worker(slots=slots, run_id=run_id)
            click.echo(f"worker {w.worker_id} serving {run_id or 'all runs'} with {slots} slot(s)", err=True)
            try:
                with graceful(w):
                    await w.serve()
            finally:
                if publisher is not None:
                    await publisher.close()

    asyncio.run(_serve())
