"""Who calls a tool, and what they may reach: the organisation, the actor, their role, the repositories."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.app import Quarterdeck, is_repository_url, projects
from quarterdeck.app import repository as app_repository
from quarterdeck.errors import InputError, NotFound
from quarterdeck.security.keyring import Keyring

__all__ = ["Caller", "local_caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """A tool call's caller: what the API's principal is to a route."""

    app: Quarterdeck
    org_id: str
    #: how the caller is recorded in decisions and the audit trail
    actor: str
    #: may start, steer and decide (a member or an admin); a viewer only reads
    can_steer: bool
    #: the keys that open the organisation's secrets, to redact a diff read from git (None: nothing to hide)
    keys: Keyring | None
    #: the repository a run works on, from a path or a project (checked as the API checks it)
    repository: Callable[[str | None, str | None], Awaitable[Path | str]]
    #: refuses a plan path the caller may not read (as the API's ``path`` is checked)
    check_plan_path: Callable[[str, Path | str], None]

    def require_steer(self) -> None:
        if not self.can_steer:
            raise InputError("this key is a viewer's: it may read runs, not start or steer them")


def local_caller(app: Quarterdeck, *, actor: str, keys: Keyring | None = None) -> Caller:
    """The user on this machine (``quarterdeck mcp`` over stdio): the settings' organisation, any local path."""

    async def repository(repo: str | None, project_id: str | None) -> Path | str:
        if project_id:
            found = await projects.read_project(app.db, project_id, org_id=app.settings.org)
            return app_repository(found.repo_path)
        if not repo:
            raise InputError("name the repository (repo: a path) or a project (project_id)")
        if is_repository_url(repo):
            return app_repository(repo)
        path = Path(repo).expanduser()
        if not path.is_absolute():
            raise InputError(f"repo must be an absolute path, not {repo!r}")
        return path

    def check_plan_path(path: str, repo: Path | str) -> None:
        if not Path(path).exists():
            raise NotFound(f"no such file or folder {path!r}")

    return Caller(
        app=app,
        org_id=app.settings.org,
        actor=actor,
        can_steer=True,
        keys=keys,
        repository=repository,
        check_plan_path=check_plan_path,
    )
