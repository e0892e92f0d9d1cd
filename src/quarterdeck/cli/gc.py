"""``quarterdeck gc``: remove the worktrees kept for inspection once their runs have ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from quarterdeck.app import Quarterdeck
from quarterdeck.settings import Settings
from quarterdeck.workspaces import pool, worktrees

__all__ = ["gc"]


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
def gc(dry_run: bool) -> None:
    """Remove the worktrees of ended runs (failed and cancelled attempts are kept until then), and the
    finished tasks' worktrees parked for reuse.

    Task branches stay: they are the record of what each agent did.
    """
    settings = Settings()
    root = settings.resolved_worktree_root()

    async def _collect() -> list[tuple[Path, Path]]:
        async with Quarterdeck(settings) as app:
            found: list[tuple[Path, Path]] = []
            for run in await app.runs(limit=10_000):
                if not run.status.terminal:
                    continue
                run_dir = root / run.id
                if run_dir.is_dir():
                    # <run>/<task>/<attempt>[-merge]; the agents' logs under <run>/.agents stay
                    found += [
                        (Path(run.repo_path), path)
                        for path in sorted(run_dir.glob("*/*"))
                        if path.is_dir() and not path.parent.name.startswith(".")
                    ]
            return found

    async def _remove(found: list[tuple[Path, Path]]) -> None:
        for repo, path in found:
            await worktrees.remove_worktree(repo, path)

    found = asyncio.run(_collect())
    parked = pool.parked(root)
    for path in [*(path for _, path in found), *parked]:
        click.echo(f"{'would remove' if dry_run else 'removing'} {path}")
    if not dry_run:
        asyncio.run(_remove(found))
        asyncio.run(pool.empty(root))
    click.echo(f"{len(found) + len(parked)} worktree(s) {'to remove' if dry_run else 'removed'}")
