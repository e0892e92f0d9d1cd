"""A project's crew: manager and reviewer models, worker roles, revision limits and gates.

Read from the ``[crew]`` table of ``<repo>/.quarterdeck/config.toml``, or from ``<repo>/.quarterdeck/crew.toml``
(the same table at the top level)::

    [crew]
    max_revisions = 2                  # per task, unless the manager's plan says otherwise
    approve_merges = false             # a human approves each landing on the integration branch
    default_role = "backend"

    [crew.manager]
    models = [{provider = "anthropic", model = "claude-sonnet-4-6"}]
    instructions = "Prefer small tasks."

    [crew.reviewer]
    models = [{provider = "openai-chat", model = "gpt-4o"}]

    [crew.roles.backend]
    runtime = "api-agent"
    models = [{provider = "anthropic", model = "claude-haiku-4-5"}]
    instructions = "You write Python services."   # added to every task prompt of this role
    concurrency = 2                                # role:backend limit of running tasks
    options = {max_turns = 40}                     # further runtime options
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarterdeck.domain import ids
from quarterdeck.errors import InputError, UnsafeNameError
from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.workspaces.git import git

__all__ = ["CREW_PATH", "CrewConfig", "ModelConfig", "RoleConfig", "load_crew_config", "read_crew_config"]

CREW_PATH = Path(".quarterdeck") / "crew.toml"
_PROJECT_PATH = Path(".quarterdeck") / "config.toml"

_DEFAULT_MODELS = (Endpoint(provider="anthropic", model="claude-sonnet-4-6"),)


class ModelConfig(BaseModel):
    """A model route (endpoints tried in order, as the api-agent's ``models``) and extra instructions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: tuple[Endpoint, ...] = Field(default=_DEFAULT_MODELS, min_length=1)
    instructions: str = ""
    max_tokens: int = Field(default=8192, gt=0)
    #: answer from this cassette instead of calling a provider (the ``replay`` provider), or record into one
    replay: Path | None = None
    record: Path | None = None

    @property
    def label(self) -> str:
        return self.models[0].label


class RoleConfig(BaseModel):
    """A worker specialty: which agent runs its tasks, with what, how many at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime: str = "api-agent"
    #: the route of an ``api-agent`` worker (ignored by other runtimes)
    models: tuple[Endpoint, ...] = ()
    #: added to every task prompt of this role
    instructions: str = ""
    concurrency: int = Field(default=1, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    def task_options(self) -> dict[str, Any]:
        """The runtime options of a task of this role."""
        options = dict(self.options)
        if self.runtime == "api-agent" and self.models:
            options.setdefault("models", [m.model_dump(mode="json", exclude_defaults=True) for m in self.models])
        return options

    @property
    def model(self) -> str | None:
        if self.models:
            return self.models[0].model
        value = self.options.get("model")
        return str(value) if value is not None else None


def _default_roles() -> dict[str, RoleConfig]:
    return {name: RoleConfig() for name in ("backend", "frontend", "tests", "docs")}


class CrewConfig(BaseModel):
    """The whole ``[crew]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manager: ModelConfig = Field(default_factory=ModelConfig)
    reviewer: ModelConfig = Field(default_factory=ModelConfig)
    roles: dict[str, RoleConfig] = Field(default_factory=_default_roles)
    default_role: str | None = None
    #: revisions per task (verification or review sent back to the agent) when the plan gives none
    max_revisions: int = Field(default=2, ge=0)
    #: a human approves each task's landing on the integration branch
    approve_merges: bool = False
    #: how long an attempt waits for a merge approval before it fails
    merge_approval_timeout_s: float = Field(default=24 * 3600.0, gt=0)

    @field_validator("roles")
    @classmethod
    def _names(cls, roles: dict[str, RoleConfig]) -> dict[str, RoleConfig]:
        if not roles:
            raise ValueError("a crew needs at least one role")
        for name in roles:
            ids.check_safe_name(name, what="role name")
        return roles

    def role(self, name: str | None) -> tuple[str, RoleConfig]:
        """The role called ``name`` (the default role, or the first, when None)."""
        name = name or self.default_role or next(iter(self.roles))
        if name not in self.roles:
            raise InputError(f"unknown role {name!r}: the crew has {', '.join(self.roles)}")
        return name, self.roles[name]

    def limits(self) -> dict[str, int]:
        """The ``role:<name>`` concurrency limits of the roles."""
        return {f"role:{name}": role.concurrency for name, role in self.roles.items()}

    def missing_keys(self, environ: Mapping[str, str], *, replaying: bool = False) -> list[str]:
        """What the manager and the reviewer lack to be asked anything, each with its fix (empty: nothing).

        A model answered from a cassette (``replay``, or ``replaying`` for QUARTERDECK_LLM_REPLAY) or at a
        server of one's own (``base_url``) needs no key here.
        """
        problems: list[str] = []
        for who, model in (("manager", self.manager), ("reviewer", self.reviewer)):
            first = model.models[0]
            if replaying or model.replay is not None or first.base_url:
                continue
            names = first.key_names()
            if not any(environ.get(name) for name in names):
                problems.append(
                    f"the {who} ({first.label}) has no key: set {' or '.join(names)}, or answer it from a "
                    f'recording with `replay = "cassette.jsonl"` in [crew.{who}] (see docs/crews.md)'
                )
        return problems


def load_crew_config(repo: Path) -> CrewConfig:
    """The repository's crew: ``crew.toml``, else the ``[crew]`` table of ``config.toml``, else the defaults.

    Raises:
        InputError: naming the file and every problem in it.
    """
    for relative, table in ((CREW_PATH, None), (_PROJECT_PATH, "crew")):
        path = repo / relative
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: {exc}") from None
        found = _parse(text, str(path), table)
        if found is not None:
            return found
    return CrewConfig()


async def read_crew_config(cache: Path, commit: str, *, where: str) -> CrewConfig:
    """The crew of a repository named by URL, as ``commit`` holds it in this machine's bare cache of it (``cache``).

    Problems are named ``<where> <commit>:<file>``. Raises InputError as ``load_crew_config``."""
    for relative, table in ((CREW_PATH, None), (_PROJECT_PATH, "crew")):
        shown = await git(cache, "cat-file", "blob", f"{commit}:{relative.as_posix()}", check=False)
        if shown.returncode != 0:
            continue
        found = _parse(shown.stdout, f"{where} {commit[:12]}:{relative.as_posix()}", table)
        if found is not None:
            return found
    return CrewConfig()


def _parse(text: str, path: str, table: str | None) -> CrewConfig | None:
    """The crew ``text`` (of the file ``path``) declares; None when it is ``config.toml`` without ``[crew]``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    if table is not None:
        if table not in data:
            return None
        data = data[table]
    elif "crew" in data and len(data) == 1:
        data = data["crew"]
    try:
        return CrewConfig.model_validate(data)
    except UnsafeNameError as exc:
        raise InputError(f"{path}: {exc.message}") from None
    except ValidationError as exc:
        where = "crew." if table else ""
        problems = "; ".join(f"{where}{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{path}: {problems}") from None
