"""Agent CLIs on this machine: where each one is, whether it is new enough, and whether it has credentials.

Every problem is an ``AgentCliError`` whose message names what to install or set, so a task fails
with a fix in its error and ``quarterdeck doctor`` can print it as is.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from quarterdeck.errors import RuntimeFailure
from quarterdeck.runtimes import process

__all__ = [
    "CLAUDE",
    "CLIS",
    "CODEX",
    "GEMINI",
    "AgentCli",
    "AgentCliError",
    "CliPaths",
    "Version",
    "check_cli",
    "installed",
    "locate",
    "missing_credentials",
    "parse_version",
    "read_version",
]

Version = tuple[int, int, int]


class AgentCliError(RuntimeFailure):
    """An agent CLI cannot be used; the message says what to install or set."""


@dataclass(frozen=True, slots=True)
class AgentCli:
    """One agent CLI: its command, npm package, the oldest version Quarterdeck supports, and its credentials."""

    name: str
    command: str
    package: str
    minimum: Version
    #: the pinned version the test suite runs (``tools/agents/package.json``)
    tested: Version
    #: the setting (environment variable) that overrides where the command is
    path_setting: str
    #: any one of these environment variables is a credential
    credential_env: tuple[str, ...]
    #: files (relative to the home directory) that hold a login instead
    credential_files: tuple[str, ...] = ()

    def install_hint(self) -> str:
        pinned = ".".join(map(str, self.tested))
        return f"install it with `npm install -g {self.package}@{pinned}` or set {self.path_setting} to its path"


CLAUDE = AgentCli(
    name="claude-code",
    command="claude",
    package="@anthropic-ai/claude-code",
    minimum=(2, 1, 197),
    tested=(2, 1, 330),
    path_setting="QUARTERDECK_CLAUDE_PATH",
    credential_env=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK"),
    credential_files=(".claude/.credentials.json",),
)
CODEX = AgentCli(
    name="codex",
    command="codex",
    package="@openai/codex",
    minimum=(0, 169, 0),
    tested=(0, 169, 0),
    path_setting="QUARTERDECK_CODEX_PATH",
    credential_env=("OPENAI_API_KEY", "CODEX_API_KEY"),
    credential_files=(".codex/auth.json",),
)
GEMINI = AgentCli(
    name="gemini",
    command="gemini",
    package="@google/gemini-cli",
    minimum=(0, 61, 0),
    tested=(0, 61, 0),
    path_setting="QUARTERDECK_GEMINI_PATH",
    credential_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"),
    credential_files=(".gemini/oauth_creds.json",),
)
CLIS: tuple[AgentCli, ...] = (CLAUDE, CODEX, GEMINI)


class CliPaths(BaseSettings):
    """Where the agent CLIs are, from ``QUARTERDECK_{CLAUDE,CODEX,GEMINI}_PATH``; unset: found on PATH."""

    model_config = SettingsConfigDict(env_prefix="QUARTERDECK_", extra="ignore", frozen=True)

    claude_path: str | None = None
    codex_path: str | None = None
    gemini_path: str | None = None

    def path_for(self, cli: AgentCli) -> str | None:
        configured: str | None = getattr(self, f"{cli.command}_path", None)
        return configured or None


def locate(cli: AgentCli, configured: str | None, env: Mapping[str, str]) -> Path:
    """The CLI's executable: the task's ``path`` option, else the setting, else the first on PATH."""
    source = "the task's 'path' option"
    wanted = configured
    if not wanted:
        wanted, source = CliPaths().path_for(cli), cli.path_setting
    if wanted:
        candidate = Path(wanted).expanduser()
        found = shutil.which(str(candidate)) if candidate.is_file() else None
        if found is None and os.sep not in wanted:
            found = shutil.which(wanted, path=env.get("PATH"))
        if found is None:
            raise AgentCliError(
                f"{cli.name}: {wanted!r} (from {source}) is not an executable file; {cli.install_hint()}"
            )
        return Path(found)
    found = shutil.which(cli.command, path=env.get("PATH"))
    if found is None:
        raise AgentCliError(f"{cli.name}: the `{cli.command}` command was not found on PATH; {cli.install_hint()}")
    return Path(found)


_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> Version | None:
    """The first ``X.Y.Z`` in a ``--version`` output."""
    match = _VERSION.search(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


async def read_version(path: Path, env: Mapping[str, str], timeout_s: float = 30.0) -> Version | None:
    """What ``<path> --version`` reports (tens of milliseconds; asked afresh for each attempt)."""
    result = await process.run_process(
        [str(path), "--version"], cwd=path.parent, env=env, timeout_s=timeout_s, grace_s=1.0
    )
    if result.timed_out or result.returncode != 0:
        return None
    return parse_version(result.output)


def _show(version: Version) -> str:
    return ".".join(map(str, version))


def missing_credentials(cli: AgentCli, env: Mapping[str, str], extra_env: tuple[str, ...] = ()) -> str | None:
    """None when the CLI has some credential; else what to set."""
    names = (*extra_env, *cli.credential_env)
    if any(env.get(name) for name in names):
        return None
    home = Path(env.get("HOME") or Path.home())
    if any((home / f).is_file() for f in cli.credential_files):
        return None
    logins = " or log in once with the CLI" if cli.credential_files else ""
    return f"{cli.name}: no credentials; set {' or '.join(dict.fromkeys(names))}{logins}"


#: what ``installed`` found, by executable and its modification time (a process asks once per binary)
_INSTALLED: dict[tuple[str, Path, int], Version | None] = {}


async def installed(cli: AgentCli, env: Mapping[str, str]) -> str | None:
    """None when this machine has a usable ``cli`` (found, answers ``--version``, not older than the minimum);
    else why not. Credentials are not asked for: a task's come with it (the organisation's agent secrets)."""
    try:
        path = locate(cli, None, env)
        key = (cli.name, path, path.stat().st_mtime_ns)
        if key not in _INSTALLED:
            _INSTALLED[key] = await read_version(path, env, timeout_s=30.0)
        version = _INSTALLED[key]
    except (AgentCliError, TimeoutError, RuntimeFailure, OSError) as exc:
        return str(exc)
    return _version_problem(cli, path, version)


def _version_problem(cli: AgentCli, path: Path, version: Version | None) -> str | None:
    """Why ``version`` (what ``path --version`` said) will not do, or None."""
    if version is None:
        return f"{cli.name}: cannot tell the version of {path}"
    if version < cli.minimum:
        return f"{cli.name}: {path} is version {_show(version)}, older than the minimum {_show(cli.minimum)}"
    return None


async def check_cli(
    cli: AgentCli, configured: str | None, env: Mapping[str, str], *, extra_credentials: tuple[str, ...] = ()
) -> tuple[Path, Version]:
    """The CLI's path and version, or ``AgentCliError`` naming what to install or set."""
    path = locate(cli, configured, env)
    try:
        version = await read_version(path, env)
    except (TimeoutError, RuntimeFailure) as exc:
        raise AgentCliError(f"{cli.name}: {path} --version failed ({exc}); {cli.install_hint()}") from None
    problem = _version_problem(cli, path, version)
    if problem is not None or version is None:
        raise AgentCliError(f"{problem}; {cli.install_hint()}")
    problem = missing_credentials(cli, env, extra_credentials)
    if problem is not None:
        raise AgentCliError(problem)
    return path, version
