"""``quarterdeck memory``: search, list and forget the lessons agents are given (docs/memory.md)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck
from quarterdeck.settings import Settings

__all__ = ["memory"]


def _row(memory: Any) -> dict[str, Any]:
    return {
        "id": memory.id,
        "repo": memory.repo,
        "run": memory.run_id,
        "task": memory.task_id,
        "title": memory.title,
        "outcome": memory.outcome,
        "created_at": memory.created_at.isoformat(),
        "files": list(memory.files),
        "text": memory.text,
    }


@click.group()
def memory() -> None:
    """Search, list and forget what earlier tasks learned (agent memory, docs/memory.md)."""


@memory.command()
@click.argument("query")
@click.option("--repo", default=None, help="Only this repository's lessons (a path or a URL) [default: all].")
@click.option("-k", "k", type=click.IntRange(1, 50), default=5, show_default=True, help="How many.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def search(query: str, repo: str | None, k: int, as_json: bool) -> None:
    """The lessons nearest QUERY, nearest first."""

    async def found() -> list[Any]:
        async with Quarterdeck(Settings()) as app:
            where = await app.memory_repository(repo) if repo is not None else None
            return await app.search_memories(query, repo=where, k=k)

    hits = asyncio.run(found())
    if as_json:
        click.echo(json.dumps([{**_row(h.memory), "similarity": round(h.similarity, 4)} for h in hits], indent=2))
        return
    if not hits:
        click.echo("No lessons yet." if repo is None else f"No lessons for {repo} yet.")
        return
    for hit in hits:
        head = f"{hit.memory.id}  {hit.similarity:.2f}  {hit.memory.title}  ({hit.memory.run_id}/{hit.memory.task_id})"
        click.echo(click.style(head, bold=True))
        click.echo("  " + hit.memory.text.replace("\n", "\n  "))


@memory.command(name="list")
@click.option("--repo", default=None, help="Only this repository's lessons.")
@click.option("--run", "run_id", default=None, help="Only the lessons this run left.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def list_(repo: str | None, run_id: str | None, limit: int, as_json: bool) -> None:
    """The lessons, newest first."""

    async def listed() -> list[Any]:
        async with Quarterdeck(Settings()) as app:
            where = await app.memory_repository(repo) if repo is not None else None
            return await app.memories(repo=where, run_id=run_id, limit=limit)

    rows = asyncio.run(listed())
    if as_json:
        click.echo(json.dumps([_row(m) for m in rows], indent=2))
        return
    table = Table(title_justify="left")
    for column in ("id", "when", "outcome", "task", "title", "repo"):
        table.add_column(column)
    for m in rows:
        table.add_row(m.id, f"{m.created_at:%Y-%m-%d %H:%M}", m.outcome, f"{m.run_id}/{m.task_id}", m.title, m.repo)
    Console().print(table)


@memory.command()
@click.argument("memory_id", required=False)
@click.option("--repo", default=None, help="Forget all of this repository's lessons.")
@click.option("--run", "run_id", default=None, help="Forget all the lessons this run left.")
def forget(memory_id: str | None, repo: str | None, run_id: str | None) -> None:
    """Forget one lesson (MEMORY_ID), a repository's (--repo) or a run's (--run)."""

    async def gone() -> int:
        async with Quarterdeck(Settings()) as app:
            where = await app.memory_repository(repo) if repo is not None else None
            return await app.forget_memories(memory_id=memory_id, repo=where, run_id=run_id)

    count = asyncio.run(gone())
    click.echo(f"Forgot {count} lesson{'s' * (count != 1)}.")
