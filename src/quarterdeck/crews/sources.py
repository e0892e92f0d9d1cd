"""What a goal's run reads from its repository (the crew, the ``[run] agent``): from its local path, or, for a
repository named by URL, from the run's base commit in this machine's bare cache of the remote."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.crews.config import CrewConfig, load_crew_config, read_crew_config
from quarterdeck.engine import submit
from quarterdeck.store.records import RunRecord
from quarterdeck.workspaces import project, remote
from quarterdeck.workspaces.git import git

__all__ = ["run_agent", "run_crew", "run_project"]


async def run_crew(run: RunRecord, cache_root: Path) -> CrewConfig:
    """The run's crew, as its repository holds it (a remote's: at the run's base commit)."""
    if not remote.is_url(run.repo_path):
        return load_crew_config(Path(run.repo_path))
    origin = await _at_base(run, cache_root)
    return await read_crew_config(origin.cache, run.base_ref, where=run.repo_path)


async def run_agent(run: RunRecord, cache_root: Path) -> str | None:
    """The ``[run] agent`` of the run's repository (a remote's: at the run's base commit), None when it has none."""
    if not remote.is_url(run.repo_path):
        return await submit.project_agent(Path(run.repo_path))
    return (await run_project(run, cache_root)).run.agent


async def run_project(run: RunRecord, cache_root: Path) -> project.ProjectConfig:
    """The run's repository's ``.quarterdeck/config.toml`` (a remote's: at the run's base commit)."""
    if not remote.is_url(run.repo_path):
        return project.load_project_config(Path(run.repo_path))
    origin = await _at_base(run, cache_root)
    text = await origin.read_file(run.base_ref, str(project.CONFIG_PATH))
    if text is None:
        return project.ProjectConfig()
    where = f"{run.repo_path} {run.base_ref[:12]}:{project.CONFIG_PATH}"
    return project.parse_project_config(text, where=where)


async def _at_base(run: RunRecord, cache_root: Path) -> remote.Remote:
    """This machine's cache of the run's remote, holding its base commit (fetched with its integration branch when
    this machine has not got it yet).

    Raises:
        RepositoryUnavailable: the remote could not be reached.
    """
    origin = await remote.open_cache(cache_root, run.repo_path)
    held = await git(origin.cache, "cat-file", "-e", f"{run.base_ref}^{{commit}}", check=False)
    if held.returncode != 0:
        branch = run.integration_branch
        await origin.fetch(f"+refs/heads/{branch}:refs/heads/{branch}")
    return origin
