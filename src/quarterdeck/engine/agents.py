"""Choosing the agent that does a run's tasks, and checking before anything starts that it can run here.

A task read from a story file or a plan without ``runtime`` has :data:`plans.NO_RUNTIME`; the run's
agent fills it in: ``--agent`` (or the API's ``agent``), else the project's ``[run] agent`` in
``.quarterdeck/config.toml``. An agent CLI that is missing, too old or without credentials, and a
provider key that is set nowhere, are each named with their fix before a run is created — the same
checks ``quarterdeck plan`` prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from quarterdeck.domain import plans
from quarterdeck.errors import Problem, UnknownRuntimeError
from quarterdeck.runtimes import cli_tools
from quarterdeck.runtimes.base import provider_key
from quarterdeck.runtimes.registry import Registry

__all__ = ["AGENTS", "NO_AGENT_HINT", "choose", "readiness"]

#: the agents a newcomer picks from (any registered runtime may be chosen)
AGENTS = ("claude-code", "codex", "gemini", "api-agent")
NO_AGENT_HINT = (
    "no agent chosen: pass `--agent claude-code` (or codex, gemini, api-agent), set `defaults.runtime` "
    'in the plan, or `[run] agent = "claude-code"` in .quarterdeck/config.toml'
)


def choose(plan: plans.Plan, agent: str | None) -> plans.Plan:
    """``plan`` with ``agent`` as the runtime of every task that names none (unchanged without an agent)."""
    if not agent or all(t.runtime != plans.NO_RUNTIME for t in plan.tasks):
        return plan
    tasks = tuple(dataclasses.replace(t, runtime=agent) if t.runtime == plans.NO_RUNTIME else t for t in plan.tasks)
    return dataclasses.replace(plan, tasks=tasks)


def _secret_fix(names: Collection[str]) -> str:
    first = next(iter(names))
    return f"set {' or '.join(names)} or run `quarterdeck secret set {first} --kind provider_key` (value on stdin)"


async def _cli_problem(cli: cli_tools.AgentCli, path: str | None, env: Mapping[str, str]) -> str | None:
    try:
        await cli_tools.check_cli(cli, path, env)
    except cli_tools.AgentCliError as exc:
        if "no credentials" in exc.message:
            names = tuple(dict.fromkeys(cli.credential_env))
            logins = " (or log in once with the CLI)" if cli.credential_files else ""
            return f"{cli.name}: no credentials; {_secret_fix(names)}{logins}"
        return exc.message
    return None


async def readiness(
    plan: plans.Plan,
    registry: Registry,
    *,
    env: Mapping[str, str],
    secret_names: Collection[str] = (),
) -> list[Problem]:
    """What keeps the plan's agents from running here: a missing or old CLI, a key set nowhere.

    ``env`` is what the agents' processes get (ours plus the project's ``[workspace] env``);
    ``secret_names`` are the organisation's stored secrets, which reach the agents as variables.
    Tasks with an unknown runtime or invalid options are left to ``submit.check_runtimes``.
    """
    known_secrets = set(secret_names)
    checks: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], list[plans.TaskSpec]] = {}
    key_problems: list[Problem] = []
    for task in plan.tasks:
        if task.runtime == plans.NO_RUNTIME:
            continue
        try:
            runtime = registry.get(task.runtime)
            options = runtime.Options.model_validate(dict(task.options))
        except (UnknownRuntimeError, ValidationError):
            continue
        fields: dict[str, Any] = options.model_dump()
        task_env = {**env, **(fields.get("env") or {})}
        cli = next((c for c in cli_tools.CLIS if c.name == task.runtime), None)
        if cli is not None:
            with_secrets = {**{n: "stored" for n in known_secrets}, **task_env}
            key = (cli.name, fields.get("path"), tuple(sorted(with_secrets.items())))
            checks.setdefault(key, []).append(task)
            continue
        if fields.get("replay"):
            continue  # answered from a cassette: no provider is called
        models = fields.get("models") or []
        if models and isinstance(models[0], dict) and models[0].get("base_url"):
            continue  # a server of one's own (a gateway, a local model) may need no key: its answer will say
        name = provider_key(runtime, options)
        if name and not task_env.get(name) and name not in known_secrets:
            where = task.source
            key_problems.append(
                Problem(where.path, where.line, f"task {task.id!r} ({task.runtime}): no {name}; {_secret_fix((name,))}")
            )
    keys = list(checks)
    found = await asyncio.gather(
        *(_cli_problem(next(c for c in cli_tools.CLIS if c.name == k[0]), k[1], dict(k[2])) for k in keys)
    )
    problems: list[Problem] = []
    for key, problem in zip(keys, found, strict=True):
        if problem is None:
            continue
        tasks = checks[key]
        first = tasks[0]
        more = f" (and {len(tasks) - 1} more task{'s' * (len(tasks) > 2)})" if len(tasks) > 1 else ""
        problems.append(Problem(first.source.path, first.source.line, f"task {first.id!r}{more}: {problem}"))
    return sorted([*problems, *key_problems], key=lambda p: (p.path, p.line))
