"""``quarterdeck audit RUN``: the run's messages, verdicts, plan versions and decisions, in order."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import click

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import audit as crew_audit
from quarterdeck.settings import Settings

__all__ = ["audit"]


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per entry.")
def audit(run_id: str, as_json: bool) -> None:
    """Print RUN's audit trail: what the manager, workers, reviewer and humans said and decided."""

    async def _trail() -> list[crew_audit.AuditEntry]:
        async with Quarterdeck(Settings()) as app:
            return await crew_audit.trail(app.db, run_id)

    entries = asyncio.run(_trail())
    for entry in entries:
        if as_json:
            click.echo(json.dumps({**asdict(entry), "at": entry.at.isoformat()}, default=str))
            continue
        to = f" → {entry.recipient}" if entry.recipient else ""
        task = f" [{entry.task_id}]" if entry.task_id else ""
        first, *rest = entry.summary.splitlines() or [""]
        click.echo(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.kind:<8} {entry.sender}{to}{task}: {first}")
        if entry.kind == "verdict":
            for criterion in entry.data.get("criteria", []):
                evidence = str(criterion.get("evidence", "")).splitlines()
                click.echo(
                    f"    {criterion['criterion']}. {criterion['status']:<11} ({criterion.get('by')}) "
                    f"{criterion.get('text', '')} — {evidence[0] if evidence else ''}"
                )
        elif rest and entry.kind != "message":
            click.echo("\n".join(f"    {line}" for line in rest[:20]))
    if not entries and not as_json:
        click.echo(f"run {run_id} has no crew messages, verdicts or decisions")
