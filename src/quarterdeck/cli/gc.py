"""``quarterdeck gc``: remove the worktrees kept for inspection once their runs have ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.runtimes import api_agent_state
from quarterdeck.settings import Settings
from quarterdeck.workspaces import pool, worktrees

__all__ = ["gc"]


@click.command()
@click.option("--dry-run", is_flag=True, help="List what would be removed.")
def gc(dry_run: bool) -> None:
    """Remove the worktrees of ended runs, parked worktrees and succeeded runs' snapshots.

    That is: the worktrees of ended runs (failed and cancelled attempts are kept until then), the
    finished tasks' worktrees parked for reuse, and the api-agent's file snapshots of runs that
    succeeded (a failed or cancelled run's tasks may be re-queued and resume from theirs).

    Task branches stay: they are the record of what each agent did.
    """
    settings = Settings()
    root = settings.resolved_worktree_root()

    async def _collect() -> tuple[list[tuple[Path, Path]], dict[Path, list[str]]]:
        async with Quarterdeck(settings) as app:
            found: list[tuple[Path, Path]] = []
            refs: dict[Path, list[str]] = {}
            for run in await app.runs(limit=10_000):
                if not run.status.terminal:
                    continue
                repo = app.local_repository(run)  # a repository named by URL: this machine's cache of it
                if run.status is RunStatus.SUCCEEDED and repo.is_dir():
                    snapshots = await api_agent_state.checkpoint_refs(repo, run.id)
                    if snapshots:
                        refs.setdefault(repo, []).extend(snapshots)
                run_dir = root / run.id
                if run_dir.is_dir():
                    # <run>/<task>/<attempt>[-merge]; the agents' logs under <run>/.agents stay
                    found += [
                        (repo, path)
                        for path in sorted(run_dir.glob("*/*"))
                        if path.is_dir() and not path.parent.name.startswith(".")
                    ]
            return found, refs

    async def _remove(found: list[tuple[Path, Path]], refs: dict[Path, list[str]]) -> int:
        for repo, path in found:
            await worktrees.remove_worktree(repo, path)
        for repo, names in refs.items():
            await api_agent_state.delete_refs(repo, names)
        await pool.empty(root)
        async with Quarterdeck(settings) as app:
            return await app.prune_agent_files()

    found, refs = asyncio.run(_collect())
    parked = pool.parked(root)
    verb = "would remove" if dry_run else "removing"
    for path in [*(path for _, path in found), *parked]:
        click.echo(f"{verb} {path}")
    for repo, names in refs.items():
        for name in names:
            click.echo(f"{verb} {name} in {repo}")
    if not dry_run:
        pruned = asyncio.run(_remove(found, refs))
        if pruned:
            click.echo(f"{pruned} stored agent file chunk(s) older than {settings.agent_files_days:g} days removed")
    click.echo(f"{len(found) + len(parked)} worktree(s) {'to remove' if dry_run else 'removed'}")
    if refs:
        count = sum(len(names) for names in refs.values())
        click.echo(f"{count} checkpoint snapshot(s) {'to remove' if dry_run else 'removed'}")
