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

[merge]
strategy = "squash"           # squash | merge | rebase, when the run does not choose one
resolve_conflicts = true      # a conflict creates a follow-up task that resolves it (dependants wait for it)
resolver_runtime = "claude-code"
resolver_options = {}
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
from quarterdeck.workspaces.paths import confine

__all__ = [
    "CONFIG_PATH",
    "MergeConfig",
    "ProjectConfig",
    "RemoteConfig",
    "WorkspaceConfig",
    "apply_files",
    "load_project_config",
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


class ProjectConfig(BaseModel):
    """The whole ``config.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    remote: RemoteConfig | None = None
    merge: MergeConfig = Field(default_factory=MergeConfig)
    #: the crew (manager, reviewer, worker roles): read by ``quarterdeck.crews.config``
    crew: dict[str, Any] = Field(default_factory=dict)


def load_project_config(repo: Path) -> ProjectConfig:
    """The repository's config, or the defaults when it has none.

    Raises:
        InputError: naming the file and what is wrong with it.
    """
    path = repo / CONFIG_PATH
    if not path.is_file():
        return ProjectConfig()
    try:
        return ProjectConfig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    except UnsafeNameError as exc:
        raise InputError(f"{path}: {exc.message}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"{path}: {problems}") from None


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
