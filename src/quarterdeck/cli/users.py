"""``quarterdeck user``: add users (the first admin of an organisation too) and list them."""

from __future__ import annotations

import asyncio
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck, accounts
from quarterdeck.settings import Settings

__all__ = ["user"]


def read_password(from_stdin: bool) -> str:
    """The password from stdin's first line (scripts), or asked for twice without echo (people)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("--password-stdin: stdin held no password")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def user() -> None:
    """Manage the users who sign in to the API and the dashboard."""


@user.command("create")
@click.option("--email", required=True, help="Their e-mail address (the login).")
@click.option("--name", required=True, help="Their display name.")
@click.option("--role", type=click.Choice(accounts.ROLES), default="member", show_default=True)
@click.option("--org", default=None, help="Their organisation, created if missing [default: QUARTERDECK_ORG].")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of asking.")
def create(email: str, name: str, role: str, org: str | None, password_stdin: bool) -> None:
    """Add a user; `--role admin` bootstraps an organisation's first admin."""
    settings = Settings()
    password = read_password(password_stdin)

    async def _create() -> accounts.UserRecord:
        async with Quarterdeck(settings) as app:
            return await accounts.create_user(
                app.db,
                org_id=org or settings.org,
                email=email,
                name=name,
                role=role,
                password=password,
                create_org=True,
            )

    record = asyncio.run(_create())
    click.echo(f"user {record.email} ({record.role}) created in organisation {record.org_id}: id {record.id}")


@user.command("list")
@click.option("--org", default=None, help="The organisation [default: QUARTERDECK_ORG].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_users(org: str | None, as_json: bool) -> None:
    """List an organisation's users."""
    settings = Settings()

    async def _list() -> list[accounts.UserRecord]:
        async with Quarterdeck(settings) as app:
            return await accounts.read_users(app.db, org_id=org or settings.org)

    found = asyncio.run(_list())
    if as_json:
        rows = [
            {"id": u.id, "email": u.email, "name": u.name, "role": u.role, "disabled": u.disabled_at is not None}
            for u in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"users of {org or settings.org}", title_justify="left")
    for column in ("id", "email", "name", "role", "disabled"):
        table.add_column(column)
    for u in found:
        table.add_row(u.id, u.email, u.name, u.role, "yes" if u.disabled_at else "")
    Console().print(table)
