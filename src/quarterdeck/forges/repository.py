"""Where the forge code reads a run's git history and ``[forge]`` table: the repository, or this machine's cache.

A run's repository is a local path (read in place; its pull request's head exists on the remote once a
``push.done`` names it) or a git URL (``workspaces.remote``): then this machine's bare cache of it is
fetched first, the config is read from the integration branch (or, before any run, the remote's
``HEAD``), and the integration and task branches are on the remote by construction — landing is a push.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quarterdeck.forges import config as forge_config
from quarterdeck.workspaces import git, project, remote

__all__ = ["Checkout", "open_repository"]


@dataclass(frozen=True, slots=True)
class Checkout:
    """A repository as the forge code reads it."""

    #: where git commands run
    git_dir: Path
    config: forge_config.ForgeConfig | None
    #: named by URL: its branches are on the remote as soon as they exist here
    remote: bool

    async def sha(self, branch: str) -> str | None:
        """The commit ``branch`` is at here (None: no such branch)."""
        shown = await git.git(self.git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False)
        return shown.stdout.strip() or None


async def open_repository(
    repo: str, *, cache_root: Path, branch: str | None = None, run_id: str | None = None
) -> Checkout:
    """The repository ``repo`` (a path or a URL), fetched first when it is a URL.

    With ``branch`` (a run's integration branch) and ``run_id``, a URL's branches of that run are fetched and
    the config is read from ``branch``; without, from the remote's ``HEAD``.

    Raises:
        InputError: its ``[forge]`` table is invalid.
        RepositoryUnavailable: a URL that cannot be fetched.
    """
    if not remote.is_url(repo):
        path = Path(repo)
        return Checkout(path, forge_config.load_forge_config(path), remote=False)
    origin = await remote.open_cache(cache_root, repo)
    if branch is not None and run_id is not None:
        await origin.fetch_run(branch, run_id)
        at = f"refs/heads/{branch}"
    else:
        at = await origin.resolve("HEAD")
    text = await origin.read_file(at, str(project.CONFIG_PATH))
    where = f"{repo} {branch or 'HEAD'}:{project.CONFIG_PATH}"
    table = project.parse_project_config(text, where=where).forge if text is not None else {}
    return Checkout(origin.cache, forge_config.parse_forge_config(table, where), remote=True)
