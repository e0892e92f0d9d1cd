"""The ``quarterdeck`` command group and the one place where errors become messages and exit codes."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from quarterdeck.errors import InputError, PlanError, QuarterdeckError

__all__ = ["EXIT_FAILED", "EXIT_INPUT", "main"]

#: exit codes: 0 success, 1 the run (or operation) failed, 2 invalid input or usage
EXIT_FAILED = 1
EXIT_INPUT = 2


class _Group(click.Group):
    """Turns Quarterdeck errors into one clear message on stderr and a meaningful exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlanError as exc:  # one `path:line: message` per problem, as compilers print them
            click.echo(exc.message, err=True)
            sys.exit(EXIT_INPUT)
        except InputError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_INPUT)
        except QuarterdeckError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_FAILED)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="quarterdeck")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Quarterdeck: plan work into a DAG, run coding agents on it, merge the results."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register() -> None:
    from quarterdeck.cli import control, costs, db, demo, doctor, gc, plan, run, worker

    main.add_command(run.run)
    main.add_command(run.status)
    main.add_command(worker.worker)
    main.add_command(db.db)
    main.add_command(demo.demo)
    main.add_command(plan.plan)
    for command in (control.budget, control.cancel, control.pause, control.resume, control.task):
        main.add_command(command)
    main.add_command(doctor.doctor)
    main.add_command(costs.costs)
    main.add_command(gc.gc)
    from quarterdeck.cli import keys, secrets, serve, users  # api

    main.add_command(serve.serve)
    main.add_command(users.user)
    main.add_command(keys.apikey)
    main.add_command(secrets.secret)
    from quarterdeck.cli import approvals, audit, goal  # crews

    main.add_command(goal.goal)
    main.add_command(audit.audit)
    main.add_command(approvals.approvals)


_register()
