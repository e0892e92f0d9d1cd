"""Per-project workspace settings from ``<repo>/.quarterdeck/config.toml``, and applying them to a worktree.

```toml
[workspace]
setup = ["npm ci"]            # run in every new worktree (bash -c), in order, before the agent
copy = [".env"]               # files copied from the repository root into each worktree
link = ["node_modules"]       # symlinked from the repository root into each worktree
env = { NODE_ENV = "test" }   # extra environment for the agent and the checks
ports = [41000, 41999]        # each running attempt gets its own QUARTERDECK_PORT from this range

[remote]
name = "origin"               # push the integration branch there after every landing
task_branches = false         # and each task's branch too

[run]
agent = "claude-code"         # the agent of tasks that name no runtime (story files, plans without one)

[merge]
strategy = "squash"           # squash | merge | rebase, when the run does not choose one
resolve_conflicts = true      # a conflict creates a follow-up task that resolves it (dependants wait for it)
resolver_runtime = "claude-code"
resolver_options = {}

[sandbox]                     # see docs/sandbox.md; every field may be overridden per task (``sandbox:``)
agent_network = "providers"   # none | providers | open
check_network = "none"        # of shell steps, verify and setup commands
memory_mb = 8192              # the step's processes together
pids = 4096
file_size_mb = 8192
allow_hosts = ["registry.npmjs.org"]
pass_env = ["JAVA_HOME"]      # worker variables steps may see (default: PATH, locale, terminal only)

[mcp.servers.facts]           # see docs/mcp.md: the api-agent's tools from external MCP servers
command = "python"            # a stdio server, started in the task's sandbox (or `url = "https://…"`)
args = ["tools/facts_server.py"]
```
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from quarterdeck.domain import ids
from quarterdeck.errors import InputError, UnsafeNameError, WorkspaceError
from quarterdeck.sandbox.policy import SandboxConfig
from quarterdeck.workspaces.mcp_config import McpConfig
from quarterdeck.workspaces.paths import confine

__all__ = [
    "CONFIG_PATH",
    "MemoryConfig",
    "MergeConfig",
    "ProjectConfig",
    "RemoteConfig",
    "RunConfig",
    "WorkspaceConfig",
    "apply_files",
    "load_project_config",
    "parse_project_config",
]

CONFIG_PATH = Path(".quarterdeck") / "config.toml"


class WorkspaceConfig(BaseModel):
    """How each task worktree is prepared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setup: list[str] = Field(default_factory=list)
    copy_files: list[str] = Field(default_factory=list, alias="copy")
    link: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    ports: tuple[int, int] | None = None

    @field_validator("ports")
    @classmethod
    def _range(cls, ports: tuple[int, int] | None) -> tuple[int, int] | None:
        if ports is not None and not 1024 <= ports[0] <= ports[1] <= 65535:
            raise ValueError("ports must be [first, last] with 1024 <= first <= last <= 65535")
        return ports


class RemoteConfig(BaseModel):
    """Where landed work is pushed (nothing is pushed without a ``[remote]`` table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: a remote configured in the repository (``git remote``), e.g. ``origin``
    name: str
    #: push each task's branch too, not only the integration branch
    task_branches: bool = False

    @field_validator("name")
    @classmethod
    def _safe(cls, name: str) -> str:
        return ids.check_safe_name(name, what="remote name")


class MergeConfig(BaseModel):
    """What happens when a task's branch conflicts with the integration branch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: how tasks land when the run does not say (``quarterdeck run --merge-strategy``)
    strategy: Literal["squash", "merge", "rebase"] = "squash"
    #: create a follow-up task that resolves the conflict, instead of blocking the dependants
    resolve_conflicts: bool = False
    #: the runtime (and its options) of that follow-up task
    resolver_runtime: str = "claude-code"
    resolver_options: dict[str, Any] = Field(default_factory=dict)


class RunConfig(BaseModel):
    """What a run of this project uses unless it says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the runtime of tasks that name none (``quarterdeck run --agent`` overrides it)
    agent: str | None = Field(default=None, min_length=1)


class MemoryConfig(BaseModel):
    """Agent memory in this project (docs/memory.md): lessons recorded after tasks, recalled into prompts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: on or off here; unset follows the setting ``QUARTERDECK_MEMORY`` (off unless set)
    enabled: bool | None = None
    #: lessons a task is given at most, and the prompt tokens they may take together
    k: int = Field(default=3, ge=1, le=20)
    budget_tokens: int = Field(default=600, ge=50, le=8000)


class ProjectConfig(BaseModel):
    """The whole ``config.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: RunConfig = Field(default_factory=RunConfig)
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    remote: RemoteConfig | None = None
    merge: MergeConfig = Field(default_factory=MergeConfig)
    #: the crew (manager, reviewer, worker roles): read by ``quarterdeck.crews.config``
    crew: dict[str, Any] = Field(default_factory=dict)
    #: pull requests and webhooks (GitHub, GitLab): read by ``quarterdeck.forges.config``
    forge: dict[str, Any] = Field(default_factory=dict)
    #: how steps are confined (``quarterdeck.sandbox``)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    #: external MCP servers whose tools the api-agent uses (``quarterdeck.workspaces.mcp_config``)
    mcp: McpConfig = Field(default_factory=McpConfig)
    #: agent memory (``quarterdeck.engine.memory``)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)


def load_project_config(repo: Path) -> ProjectConfig:
    """The repository's config, or the defaults when it has none.

    Raises:
        InputError: naming the file and what is wrong with it.
    """
    path = repo / CONFIG_PATH
    if not path.is_file():
        return ProjectConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    return parse_project_config(text, where=str(path))


def parse_project_config(text: str, *, where: str) -> ProjectConfig:
    """The config in ``text`` (read from ``where``, named in errors).

    Raises:
        InputError: naming ``where`` and what is wrong.
    """
    try:
        return ProjectConfig.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where}: {exc}") from None
    except UnsafeNameError as exc:
        raise InputError(f"{where}: {exc.message}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{where}: {problems}") from None


def apply_files(config: WorkspaceConfig, repo: Path, worktree: Path) -> None:
    """Copy and link the configured files from the repository root into the worktree (both confined)."""
    for name, link in [(n, False) for n in config.copy_files] + [(n, True) for n in config.link]:
        source = confine(repo, name)
        target = confine(worktree, name)
        if not source.exists():
            raise WorkspaceError(f"{CONFIG_PATH}: {name!r} does not exist in {repo}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() or target.is_symlink():
            continue
        if link:
            target.symlink_to(source)
        elif source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
