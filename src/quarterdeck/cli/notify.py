"""``quarterdeck notify``: subscribe webhooks, Slack and email to notifications, and look at the outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck, accounts
from quarterdeck.domain import notifications as rules
from quarterdeck.errors import InputError
from quarterdeck.notify.subscriptions import STATUSES, masked_target
from quarterdeck.settings import Settings

__all__ = ["notify"]

T = TypeVar("T")


def _with_app(operation: Callable[[Quarterdeck], Awaitable[T]]) -> T:
    async def _go() -> T:
        async with Quarterdeck(Settings()) as app:
            return await operation(app)

    return asyncio.run(_go())


@click.group()
def notify() -> None:
    """Subscribe webhooks, Slack and email to run notifications; show the outbox."""


@notify.command("subscribe")
@click.argument("channel", type=click.Choice(rules.CHANNELS))
@click.argument("target", required=False)
@click.option("--project", "project_id", default=None, help="Only this project's runs (its id).")
@click.option("--user", "user_email", default=None, help="A user's own subscription (their email address).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(rules.KINDS),
    help="Only these kinds (repeat it) [default: every kind].",
)
@click.option("--secret", "secret_name", default=None, help="The secret that signs a webhook's bodies (HMAC-SHA256).")
def subscribe(
    channel: str,
    target: str | None,
    project_id: str | None,
    user_email: str | None,
    kinds: tuple[str, ...],
    secret_name: str | None,
) -> None:
    """Send CHANNEL notifications to TARGET (a URL, or an address; a --user's email by default)."""
    settings = Settings()
    if project_id and user_email:
        raise click.UsageError("a subscription is for a --project or a --user, not both")

    async def _subscribe(app: Quarterdeck) -> Any:
        user_id = None
        if user_email:
            user = await accounts.read_user_by_email(app.db, user_email)
            if user is None or user.org_id != settings.org:
                raise InputError(f"no user {user_email!r} in {settings.org} (quarterdeck user list)")
            user_id = user.id
        return await app.subscribe(
            org_id=settings.org,
            actor="cli",
            scope="project" if project_id else "user" if user_email else "org",
            channel=channel,
            target=target,
            kinds=kinds,
            project_id=project_id,
            user_id=user_id,
            secret_name=secret_name,
        )

    record = _with_app(_subscribe)
    click.echo(f"subscription {record.id}: {record.channel} to {masked_target(record.channel, record.target)}")


@notify.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """Show the organisation's subscriptions."""
    settings = Settings()
    found = _with_app(lambda app: app.subscriptions(org_id=settings.org))
    rows: list[dict[str, Any]] = [
        {
            "id": s.id,
            "scope": s.scope,
            "project": s.project_id,
            "user": s.user_id,
            "channel": s.channel,
            "target": masked_target(s.channel, s.target),
            "kinds": s.kinds,
            "secret": s.secret_name,
        }
        for s in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"subscriptions of {settings.org}", title_justify="left")
    for column in ("id", "scope", "channel", "target", "kinds", "secret"):
        table.add_column(column)
    for s in found:
        scope = s.scope + (f" {s.project_id}" if s.project_id else "") + (f" {s.user_id}" if s.user_id else "")
        target = masked_target(s.channel, s.target)
        table.add_row(s.id, scope, s.channel, target, ", ".join(s.kinds) or "all", s.secret_name or "")
    Console().print(table)


@notify.command("unsubscribe")
@click.argument("subscription_id")
def unsubscribe(subscription_id: str) -> None:
    """Delete SUBSCRIPTION_ID (and its notifications)."""
    settings = Settings()
    _with_app(lambda app: app.unsubscribe(subscription_id, org_id=settings.org))
    click.echo(f"subscription {subscription_id} deleted")


@notify.command("outbox")
@click.option("--run", "run_id", default=None, help="Only this run's notifications.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only notifications in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox(run_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Show notifications, newest first: delivered, pending a retry (with the last error), or failed."""
    settings = Settings()
    found = _with_app(lambda app: app.notifications(org_id=settings.org, run_id=run_id, status=status, limit=limit))
    if as_json:
        rows = [
            {
                "id": n.id,
                "kind": n.kind,
                "channel": n.channel,
                "target": masked_target(n.channel, n.target),
                "run": n.run_id,
                "task": n.task_id,
                "status": n.status,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "created_at": n.created_at.isoformat(),
                "delivered_at": n.delivered_at.isoformat() if n.delivered_at else None,
            }
            for n in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="notifications", title_justify="left")
    for column in ("id", "kind", "channel", "run", "status", "tries", "last error"):
        table.add_column(column)
    for n in found:
        table.add_row(n.id, n.kind, n.channel, n.run_id or "", n.status, str(n.attempts), n.last_error or "")
    Console().print(table)
