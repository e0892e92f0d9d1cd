"""``quarterdeck doctor``: is each agent CLI installed, new enough, given credentials, and does the sandbox
its tasks run in work?"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass

import click

from quarterdeck import sandbox
from quarterdeck.runtimes import cli_tools, codex, process

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
    #: the sandbox its tasks run in, as probed (or why none is used)
    sandbox: str = ""


#: how tasks of the CLIs without a probe are confined (their own sandboxes are off as Quarterdeck runs them)
_UNSANDBOXED = {
    cli_tools.CLAUDE.name: "sandbox: none (tasks run with permission mode bypassPermissions in their worktree)",
    cli_tools.GEMINI.name: "sandbox: none (tasks run without --sandbox, approval mode yolo, in their worktree)",
}


async def _check(cli: cli_tools.AgentCli, configured: bool) -> Finding:
    env = process.base_env()
    try:
        path, version = await cli_tools.check_cli(cli, None, env)
    except cli_tools.AgentCliError as exc:
        return Finding(cli, False, exc.message, configured)
    shown = ".".join(map(str, version))
    found = f"{cli.name} {shown} at {path}"
    if cli is cli_tools.CODEX:
        problem = await codex.probe_sandbox(path, env)
        if problem is not None:
            return Finding(cli, False, f"{found}; its workspace-write sandbox fails: {problem}", configured)
        return Finding(cli, True, found, configured, "sandbox: workspace-write works (as tasks run it)")
    return Finding(cli, True, found, configured, _UNSANDBOXED.get(cli.name, ""))


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
    """Check the agent CLIs: found, at least the pinned minimum version, credentials present, and the sandbox
    their tasks run in works (Codex's workspace-write sandbox is tried as a task runs it).

    An agent named with --agent, or whose QUARTERDECK_<NAME>_PATH is set, must pass (else exit 2);
    the others are reported as optional.
    """
    findings = asyncio.run(diagnose(agents))
    failed = False
    for finding in findings:
        if finding.ok:
            click.echo(f"ok       {finding.detail}" + (f"; {finding.sandbox}" if finding.sandbox else ""))
        elif finding.configured:
            failed = True
            click.echo(f"error    {finding.detail}", err=True)
        else:
            click.echo(f"missing  {finding.detail} (optional: only tasks with runtime {finding.cli.name!r} need it)")
    if not sandbox_ok():
        failed = True
    if failed:
        sys.exit(EXIT_INPUT)


def sandbox_ok() -> bool:
    """Report whether steps can be sandboxed here (``quarterdeck.sandbox``); False when runs would refuse."""
    if sandbox.is_opted_out():
        click.echo("off      sandbox: QUARTERDECK_SANDBOX=off — steps run unconfined, with the worker's privileges")
        return True
    available = sandbox.availability()
    if available.ok:
        click.echo(f"ok       sandbox: {available.describe()}")
        return True
    click.echo(
        f"error    sandbox: {available.reason}. Runs refuse to start steps unconfined; install bubblewrap or set "
        "QUARTERDECK_SANDBOX=off to run them with the worker's privileges",
        err=True,
    )
    return False
