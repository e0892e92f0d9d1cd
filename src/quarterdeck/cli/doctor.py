"""``quarterdeck doctor``: is each agent CLI installed, new enough, and given credentials?"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

import click

from quarterdeck.runtimes import cli_tools, process

__all__ = ["Finding", "diagnose", "doctor"]

EXIT_INPUT = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """What doctor found for one agent CLI."""

    cli: cli_tools.AgentCli
    ok: bool
    detail: str
    #: asked for (by ``--agent`` or its path setting), so a problem is an error rather than a note
    configured: bool


async def _check(cli: cli_tools.AgentCli, configured: bool) -> Finding:
    env = process.base_env()
    try:
        path, version = await cli_tools.check_cli(cli, None, env)
    except cli_tools.AgentCliError as exc:
        return Finding(cli, False, exc.message, configured)
    shown = ".".join(map(str, version))
    return Finding(cli, True, f"{cli.name} {shown} at {path}", configured)


async def diagnose(names: tuple[str, ...]) -> list[Finding]:
    """Check the named agent CLIs (all when none are named)."""
    paths = cli_tools.CliPaths()
    wanted = [c for c in cli_tools.CLIS if not names or c.name in names or c.command in names]
    checks = [_check(c, bool(names) or paths.path_for(c) is not None) for c in wanted]
    return list(await asyncio.gather(*checks))


@click.command()
@click.option(
    "--agent",
    "agents",
    multiple=True,
    type=click.Choice(sorted({n for c in cli_tools.CLIS for n in (c.name, c.command)})),
    help="Check only this agent (repeatable); a problem with it exits 2.",
)
def doctor(agents: tuple[str, ...]) -> None:
    """Check the agent CLIs: found, at least the pinned minimum version, credentials present.

    An agent named with --agent, or whose QUARTERDECK_<NAME>_PATH is set, must pass (else exit 2);
    the others are reported as optional.
    """
    findings = asyncio.run(diagnose(agents))
    failed = False
    for finding in findings:
        if finding.ok:
            click.echo(f"ok       {finding.detail}")
        elif finding.configured:
            failed = True
            click.echo(f"error    {finding.detail}", err=True)
        else:
            click.echo(f"missing  {finding.detail} (optional: only tasks with runtime {finding.cli.name!r} need it)")
    if failed:
        sys.exit(EXIT_INPUT)
