"""Repositories belong to organisations: which paths on the server a caller may have the server use.

A run or a goal targets a repository of a project of the caller's organisation (by ``project_id``,
or by a ``repo`` path that is one of them). Any other path is a raw server path: accepted only under
a root the server's operator lists in ``QUARTERDECK_REPO_ROOTS`` (none by default), and even there
never another organisation's project. A project (an admin's) cannot point into the state directory
or the worktrees, nor into, onto or around another organisation's project; with roots configured it
must lie under one. A plan ``path`` on the server must lie in the run's repository or under a root.

Paths are compared resolved (symbolic links followed), so a link does not lead around the rule.
The CLI (``quarterdeck run --repo PATH``) is the operator's own and does not pass through here. A repository
named by URL (``workspaces.remote``) is a project's (an admin registers it) or nothing: a raw URL is refused.
"""

from __future__ import annotations

from pathlib import Path

from quarterdeck.api.errors import Forbidden
from quarterdeck.api.services import Services
from quarterdeck.app import is_repository_url, projects, repository
from quarterdeck.errors import InputError

__all__ = ["check_plan_path", "check_project_path", "run_repository"]


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _overlap(a: Path, b: Path) -> bool:
    return a.is_relative_to(b) or b.is_relative_to(a)


def _under_roots(svc: Services, path: Path) -> bool:
    return any(path.is_relative_to(_resolved(root)) for root in svc.api.repo_roots)


def _control_plane(svc: Services) -> list[Path]:
    return [_resolved(svc.settings.state_dir), svc.settings.resolved_worktree_root()]


async def _paths(svc: Services) -> list[tuple[str, Path]]:
    return [(org, _resolved(path)) for org, path in await projects.read_repo_paths(svc.db)]


async def check_project_path(svc: Services, org_id: str, repo_path: str) -> None:
    """Forbidden unless ``repo_path`` may be a project of ``org_id`` (see the module's rules).

    A repository named by URL is fetched by the workers, never opened on the server: it is checked as a URL
    git may use (a ``file://`` one as the path it names)."""
    if is_repository_url(repo_path):
        repository(repo_path)  # InputError: a URL git may not use
        if not repo_path.startswith("file://"):
            return
        repo_path = repo_path.removeprefix("file://")
    path = _resolved(repo_path)
    if any(_overlap(path, place) for place in _control_plane(svc)):
        raise Forbidden("a project cannot point into (or hold) the server's state directory or its worktrees")
    if svc.api.repo_roots and not _under_roots(svc, path):
        raise Forbidden("a project's repository must lie under one of the server's QUARTERDECK_REPO_ROOTS")
    if any(org != org_id and _overlap(path, theirs) for org, theirs in await _paths(svc)):
        raise Forbidden("a project cannot point into, onto or around another organisation's project")


async def run_repository(svc: Services, org_id: str, repo: str | None, project_id: str | None) -> str:
    """The repository a run or goal of ``org_id`` may target, from its ``repo`` and ``project_id``.

    Raises:
        NotFound: ``project_id`` is not a project of the organisation.
        Forbidden: ``repo`` is neither one of the organisation's projects nor allowed as a raw path.
        InputError: neither is given.
    """
    if project_id is not None:
        project = await projects.read_project(svc.db, project_id, org_id=org_id)
        if repo is None or _resolved(repo) == _resolved(project.repo_path):
            return project.repo_path
    if repo is None:
        raise InputError("repo is required (the git repository on the server), or a project_id that has one")
    path = _resolved(repo)
    known = await _paths(svc)
    if any(org == org_id and path == ours for org, ours in known):
        return repo
    if not _under_roots(svc, path):
        raise Forbidden(
            f"repo {repo!r} is not the repository of a project of your organisation: name a project "
            "(project_id, or its repo path); an admin registers projects"
        )
    if any(_overlap(path, place) for place in _control_plane(svc)) or any(
        org != org_id and _overlap(path, theirs) for org, theirs in known
    ):
        raise Forbidden(f"repo {repo!r} belongs to the server or to another organisation")
    return repo


def check_plan_path(svc: Services, plan_path: str, repo: str) -> None:
    """Forbidden unless a plan ``path`` on the server lies in the run's repository or under a root."""
    path = _resolved(plan_path)
    if path.is_relative_to(_resolved(repo)):
        return
    if _under_roots(svc, path) and not any(_overlap(path, place) for place in _control_plane(svc)):
        return
    raise Forbidden(f"path {plan_path!r} must lie in the run's repository (or under a QUARTERDECK_REPO_ROOTS root)")
