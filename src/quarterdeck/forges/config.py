"""A project's forge: which GitHub or GitLab repository its pull requests and webhooks belong to.

Read from the ``[forge]`` table of ``<repo>/.quarterdeck/config.toml``::

    [forge]
    kind = "github"                      # or "gitlab"
    repository = "acme/shop"             # GitLab: "group/subgroup/project"
    api_url = "https://api.github.com"   # GitHub Enterprise: https://HOST/api/v3; GitLab: https://HOST
    token_secret = "GITHUB_TOKEN"        # the organisation's secret holding the API token
    webhook_secret = "GITHUB_WEBHOOK_SECRET"
    pull_requests = "run"                # one per run; "task": one per task branch; "off"
    base = "main"                        # default: the run's base when it is a branch, else "main"
    wait_for_checks = false              # mark ready only once the head's checks are green
    label = "quarterdeck"                # an issue given this label starts a run
    require_approval = false             # review feedback waits for an approval before it is sent
    max_revisions = 3                    # per task, when the task sets no max_revisions of its own
    dashboard_url = "https://qd.example.com"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarterdeck.domain import ids
from quarterdeck.errors import InputError, UnsafeNameError
from quarterdeck.workspaces import project

__all__ = ["ForgeConfig", "load_forge_config", "parse_forge_config"]

_DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com"}


class ForgeConfig(BaseModel):
    """The ``[forge]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["github", "gitlab"]
    repository: str = Field(min_length=3, max_length=300, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
    api_url: str | None = Field(default=None, pattern=r"^https?://")
    token_secret: str | None = None
    webhook_secret: str | None = None
    pull_requests: Literal["run", "task", "off"] = "run"
    base: str | None = None
    draft: bool = True
    wait_for_checks: bool = False
    label: str = Field(default="quarterdeck", min_length=1, max_length=100)
    require_approval: bool = False
    #: revisions from review feedback per task, when the task sets no ``max_revisions`` of its own
    max_revisions: int = Field(default=3, ge=0, le=100)
    dashboard_url: str | None = Field(default=None, pattern=r"^https?://")
    #: the agent of the tasks read from issues (default: the project's ``[run] agent``)
    agent: str | None = None
    #: the budget of a run started from an issue
    budget_usd: float | None = Field(default=None, gt=0)

    @field_validator("token_secret", "webhook_secret")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        return None if value is None else ids.check_safe_name(value, what="secret name")

    @field_validator("base")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        return None if value is None else ids.check_branch_name(value)

    @property
    def api(self) -> str:
        return (self.api_url or _DEFAULT_API[self.kind]).rstrip("/")

    @property
    def token_name(self) -> str:
        return self.token_secret or ("GITHUB_TOKEN" if self.kind == "github" else "GITLAB_TOKEN")

    @property
    def webhook_secret_name(self) -> str:
        return self.webhook_secret or ("GITHUB_WEBHOOK_SECRET" if self.kind == "github" else "GITLAB_WEBHOOK_SECRET")

    def base_branch(self, run_base: str) -> str:
        """The pull request's base: the configured one, else the run's base when it names a branch."""
        if self.base:
            return self.base
        name = run_base.removeprefix("refs/heads/")
        if name == "HEAD" or re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", name):
            return "main"  # a commit, not a branch
        try:
            return ids.check_branch_name(name)
        except UnsafeNameError:
            return "main"  # a commit or an expression, not a branch


def parse_forge_config(table: dict[str, Any], where: str) -> ForgeConfig | None:
    """The forge of a ``[forge]`` table (None when the table is empty).

    Raises:
        InputError: naming ``where`` and each problem.
    """
    if not table:
        return None
    try:
        return ForgeConfig.model_validate(table)
    except UnsafeNameError as exc:
        raise InputError(f"{where}: [forge] {exc.message}") from None
    except ValidationError as exc:
        problems = "; ".join(f"forge.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{where}: {problems}") from None


def load_forge_config(repo: Path) -> ForgeConfig | None:
    """The repository's forge, or None when ``config.toml`` has no ``[forge]`` table."""
    return parse_forge_config(project.load_project_config(repo).forge, str(repo / project.CONFIG_PATH))
