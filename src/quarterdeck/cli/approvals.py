"""``quarterdeck approvals list|approve|reject``: the human gates of runs (plans, re-plans, merges, budget)."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import ApprovalRecord, Quarterdeck
from quarterdeck.settings import Settings

__all__ = ["approvals"]

T = TypeVar("T")


def _with_app(operation: Callable[[Quarterdeck], Awaitable[T]]) -> T:
    async def _go() -> T:
        async with Quarterdeck(Settings()) as app:
            return await operation(app)

    return asyncio.run(_go())


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@click.group()
def approvals() -> None:
    """List and decide pending approvals (of the organisation QUARTERDECK_ORG)."""


@approvals.command("list")
@click.option("--run", "run_id", default=None, help="Only this run's approvals.")
@click.option("--all", "show_all", is_flag=True, help="Decided approvals too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(run_id: str | None, show_all: bool, as_json: bool) -> None:
    """Show pending approvals (with --all, decided ones too, with who decided and when)."""
    settings = Settings()

    async def _list(app: Quarterdeck) -> list[ApprovalRecord]:
        if not show_all:
            return await app.pending_approvals(run_id, org_id=settings.org)
        return await app.approvals(run_id, org_id=settings.org)

    found = _with_app(_list)
    if as_json:
        click.echo(json.dumps([_json(a) for a in found], indent=2))
        return
    if not found:
        click.echo("no pending approvals" if not show_all else "no approvals")
        return
    table = Table()
    for column in ("id", "kind", "run", "task", "status", "requested", "decided"):
        table.add_column(column)
    for a in found:
        decided = f"{a.decided_by} {a.decided_at:%Y-%m-%d %H:%M}" if a.decided_at else ""
        table.add_row(
            a.id,
            a.kind,
            a.run_id or "",
            a.task_id or "",
            a.status,
            f"{a.requested_by} {a.requested_at:%Y-%m-%d %H:%M}",
            decided,
        )
    Console(width=200).print(table)


def _json(a: ApprovalRecord) -> dict[str, object]:
    return {
        "id": a.id,
        "kind": a.kind,
        "run_id": a.run_id,
        "task_id": a.task_id,
        "status": a.status,
        "payload": a.payload,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at.isoformat(),
        "decided_by": a.decided_by,
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "reason": a.reason,
    }


def _decide(approval_id: str, approve: bool, by: str | None, reason: str | None) -> None:
    settings = Settings()
    decided = _with_app(
        lambda app: app.decide(
            approval_id, approve=approve, by=by or _default_user(), reason=reason, org_id=settings.org
        )
    )
    click.echo(f"{decided.kind} {decided.id} {decided.status} by {decided.decided_by}")
    if decided.status == "approved" and decided.kind in ("plan", "replan", "budget") and decided.run_id:
        click.echo(
            f"it goes on in any `quarterdeck serve` or `quarterdeck worker` (or `quarterdeck resume {decided.run_id}`)"
        )


_by = click.option("--by", default=None, help="Who decides [default: the current user].")
_reason = click.option("--reason", default=None, help="Why, recorded with the decision.")


@approvals.command()
@click.argument("approval_id", metavar="ID")
@_by
@_reason
def approve(approval_id: str, by: str | None, reason: str | None) -> None:
    """Approve ID: an approved plan or re-plan runs, a budget is raised, a merge lands."""
    _decide(approval_id, True, by, reason)


@approvals.command()
@click.argument("approval_id", metavar="ID")
@_by
@_reason
def reject(approval_id: str, by: str | None, reason: str | None) -> None:
    """Reject ID: a rejected plan cancels its run, a rejected merge fails its task."""
    _decide(approval_id, False, by, reason)
