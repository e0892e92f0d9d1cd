"""``quarterdeck workers``: the fleet, as the workers last reported themselves."""

from __future__ import annotations

import asyncio
import json

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import FleetWorker, Quarterdeck
from quarterdeck.settings import Settings

__all__ = ["worker_json", "workers"]


def worker_json(shown: FleetWorker) -> dict[str, object]:
    w = shown.worker
    return {
        "id": w.id,
        "hostname": w.hostname,
        "pid": w.pid,
        "live": shown.live,
        "slots": w.slots,
        "running": w.running,
        "labels": list(w.labels),
        "runtimes": list(w.runtimes),
        "unreachable": list(w.unreachable),
        "started_at": w.started_at.isoformat(),
        "heartbeat_at": w.heartbeat_at.isoformat(),
        "stopped_at": w.stopped_at.isoformat() if w.stopped_at else None,
    }


@click.command()
@click.option("--all", "gone", is_flag=True, help="Also workers that stopped or fell silent.")
@click.option("--json", "as_json", is_flag=True)
def workers(gone: bool, as_json: bool) -> None:
    """List the fleet: each worker, what it offers, and whether it is live."""

    async def _list() -> list[FleetWorker]:
        async with Quarterdeck(Settings()) as app:
            return await app.workers(gone=gone)

    fleet = asyncio.run(_list())
    if as_json:
        click.echo(json.dumps([worker_json(w) for w in fleet], indent=2))
        return
    if not fleet:
        click.echo("no live worker: start one with `quarterdeck worker` (`--all` shows stopped ones)")
        return
    table = Table("worker", "host", "state", "slots", "labels", "cannot reach")
    for shown in fleet:
        w = shown.worker
        state = "live" if shown.live else ("stopped" if w.stopped_at else "silent")
        table.add_row(
            w.id,
            w.hostname,
            state,
            f"{w.running}/{w.slots}",
            ", ".join(w.labels) or "-",
            ", ".join(w.unreachable) or "-",
        )
    Console().print(table)
