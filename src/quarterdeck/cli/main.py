"""The ``quarterdeck`` command group and the one place where errors become messages and exit codes."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from quarterdeck.errors import InputError, NotFound, PlanError, QuarterdeckError

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_INPUT", "EXIT_WAITING", "main"]

#: exit codes: 0 success, 1 the run (or operation) failed, 2 invalid input or usage, 3 the run waits for a person
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_WAITING = 3


class _Group(click.Group):
    """Turns Quarterdeck errors into one clear message on stderr and a meaningful exit code.

    Its commands (:data:`COMMANDS`) are imported when used: the group's help lists them without loading one.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                short = click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
            else:
                short = self.commands[name].get_short_help_str(limit)
            rows.append((name, short))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlanError as exc:  # one `path:line: message` per problem, as compilers print them
            click.echo(exc.message, err=True)
            sys.exit(EXIT_INPUT)
        except InputError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_INPUT)
        except NotFound as exc:  # "no run X" says where it looked
            click.echo(f"error: {exc.message} (in {_database()})", err=True)
            sys.exit(EXIT_FAILED)
        except QuarterdeckError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_FAILED)


def _database() -> str:
    from quarterdeck.app import overview

    return f"the database {overview.shown_url(overview.database_url())}"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="quarterdeck")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the database, worktrees and keys live (QUARTERDECK_STATE_DIR) "
    "[default: $XDG_DATA_HOME/quarterdeck, else ~/.local/share/quarterdeck].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="QUARTERDECK_LOG_FORMAT",
    show_default=True,
    help="Log lines as text, or as JSON objects with the run, task, attempt, worker, request and trace ids "
    "(QUARTERDECK_LOG_FORMAT).",
)
def main(verbose: int, state_dir: Path | None, log_format: str) -> None:
    """Quarterdeck: plan work into a DAG, run coding agents on it, merge the results."""
    from quarterdeck.observability import logs

    if state_dir is not None:  # every command reads its settings from the environment
        os.environ["QUARTERDECK_STATE_DIR"] = str(state_dir.expanduser().resolve())
    logs.configure_logging(logging.WARNING - 10 * min(verbose, 2), "json" if log_format == "json" else "text")


#: every command: name → (module:attribute, its one-line help). Commands are imported only when run (or
#: asked for their own help), so ``quarterdeck --help`` loads click alone; a unit test keeps the lines
#: here equal to each command's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("quarterdeck.cli.run:run", "Run PLAN (a plan file or a story folder) on REPO and wait for it to finish."),
    "status": ("quarterdeck.cli.status:status", "Show one run's tasks, or the latest runs."),
    "logs": ("quarterdeck.cli.logs:logs", "Print what a run's tasks did: agent transcripts, check output, errors."),
    "plan": (
        "quarterdeck.cli.plan:plan",
        "Read a story file or folder, check it as `quarterdeck run` would and print the DAG it makes.",
    ),
    "info": ("quarterdeck.cli.info:info", "Say which state directory, database and worktree folder are used."),
    "demo": (
        "quarterdeck.cli.demo:demo",
        "Run the bundled example plan end to end on SQLite: no services, no API keys.",
    ),
    "worker": (
        "quarterdeck.cli.worker:worker",
        "Claim and run ready tasks until stopped (SIGINT/SIGTERM drains; a second one stops now).",
    ),
    "workers": (
        "quarterdeck.cli.workers:workers",
        "List the fleet: each worker, what it offers, and whether it is live.",
    ),
    "pause": (
        "quarterdeck.cli.control:pause",
        "Pause RUN: running tasks finish, nothing new starts until `quarterdeck resume`.",
    ),
    "resume": (
        "quarterdeck.cli.control:resume",
        "Continue RUN (paused, or left behind by a `quarterdeck run` that died) and wait for it to finish.",
    ),
    "cancel": (
        "quarterdeck.cli.control:cancel",
        "Cancel RUN: unfinished tasks are cancelled, running agents stopped (worktrees kept).",
    ),
    "budget": (
        "quarterdeck.cli.control:budget",
        "Raise RUN's budget by --add USD; a run waiting for budget runs again.",
    ),
    "task": ("quarterdeck.cli.control:task", "Look at and steer single tasks."),
    "doctor": (
        "quarterdeck.cli.doctor:doctor",
        "Check the agent CLIs: found, at least the pinned minimum version, credentials present, and the sandbox "
        "their tasks run in works (Codex's workspace-write sandbox is tried as a task runs it).",
    ),
    "costs": (
        "quarterdeck.cli.costs:costs",
        "What agents spent, per model, day (UTC), task or run; unpriced rows have an unknown cost.",
    ),
    "stats": (
        "quarterdeck.cli.stats:stats",
        "How the crew's ended tasks did: success (first try and overall), revisions, cost, tokens, time per phase.",
    ),
    "memory": (
        "quarterdeck.cli.memory:memory",
        "Search, list and forget what earlier tasks learned (agent memory, docs/memory.md).",
    ),
    "gc": (
        "quarterdeck.cli.gc:gc",
        "Remove the worktrees of ended runs, parked worktrees and succeeded runs' snapshots.",
    ),
    "db": ("quarterdeck.cli.db:db", "Manage the database."),
    "serve": (
        "quarterdeck.cli.serve:serve",
        "Serve the REST API (/api/v1), the live event streams and the dashboard, and run the work it is given.",
    ),
    "user": ("quarterdeck.cli.users:user", "Manage the users who sign in to the API and the dashboard."),
    "apikey": ("quarterdeck.cli.keys:apikey", "Manage API keys (Authorization: Bearer qdk_…)."),
    "secret": (
        "quarterdeck.cli.secrets:secret",
        "Manage secrets (sealed with QUARTERDECK_SECRET_KEY, or the generated key in the state directory).",
    ),
    "goal": (
        "quarterdeck.cli.goal:goal",
        "Give the crew GOAL: the manager plans it, workers build it, the reviewer judges every criterion.",
    ),
    "audit": (
        "quarterdeck.cli.audit:audit",
        "Print RUN's audit trail: what the manager, workers, reviewer and humans said and decided.",
    ),
    "approvals": (
        "quarterdeck.cli.approvals:approvals",
        "List and decide pending approvals (of the organisation QUARTERDECK_ORG).",
    ),
    "mcp": (
        "quarterdeck.cli.mcp:mcp",
        "Serve Quarterdeck's tools to an MCP client over stdio (plan, run, watch, logs, diffs, approvals, steering).",
    ),
    "notify": (
        "quarterdeck.cli.notify:notify",
        "Subscribe webhooks, Slack and email to run notifications; show the outbox.",
    ),
}
