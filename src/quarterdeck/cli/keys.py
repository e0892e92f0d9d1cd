"""``quarterdeck apikey``: keys for CI and agents — create (shown once), list, revoke."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck, accounts
from quarterdeck.errors import InputError
from quarterdeck.settings import Settings

__all__ = ["apikey"]

_org_option = click.option("--org", default=None, help="The organisation [default: QUARTERDECK_ORG].")


@click.group()
def apikey() -> None:
    """Manage API keys (Authorization: Bearer qdk_…)."""


@apikey.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'ci'.")
@click.option("--role", type=click.Choice(accounts.ROLES), default="member", show_default=True)
@click.option("--user", "email", default=None, help="The user the key acts for (its actions are theirs).")
@click.option("--expires-in-days", type=click.IntRange(1), default=None, help="Stop working after this many days.")
@_org_option
def create(name: str, role: str, email: str | None, expires_in_days: int | None, org: str | None) -> None:
    """Create a key and print it: it is shown this once and only its hash is stored."""
    settings = Settings()
    org_id = org or settings.org

    async def _create() -> tuple[accounts.ApiKeyRecord, str]:
        async with Quarterdeck(settings) as app:
            user_id = None
            if email is not None:
                owner = await accounts.read_user_by_email(app.db, email)
                if owner is None or owner.org_id != org_id:
                    raise InputError(f"no user {email!r} in organisation {org_id!r}")
                user_id = owner.id
            return await accounts.create_api_key(
                app.db,
                org_id=org_id,
                user_id=user_id,
                name=name,
                role=role,
                expires_in=timedelta(days=expires_in_days) if expires_in_days else None,
            )

    record, key = asyncio.run(_create())
    click.echo(f"API key {record.id} ({record.role}) for {org_id} — copy it now, it is not shown again:", err=True)
    click.echo(key)


@apikey.command("list")
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(org: str | None, as_json: bool) -> None:
    """List keys (never the keys themselves)."""
    settings = Settings()

    async def _list() -> list[accounts.ApiKeyRecord]:
        async with Quarterdeck(settings) as app:
            return await accounts.read_api_keys(app.db, org_id=org or settings.org)

    found = asyncio.run(_list())
    if as_json:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "role": k.role,
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "revoked": k.revoked_at is not None,
            }
            for k in found
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"API keys of {org or settings.org}", title_justify="left")
    for column in ("id", "name", "key", "role", "last used", "state"):
        table.add_column(column)
    now = datetime.now(UTC)
    for k in found:
        state = "revoked" if k.revoked_at else ("expired" if not k.usable(now) else "active")
        used = k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never"
        table.add_row(k.id, k.name, f"qdk_{k.prefix}_…", k.role, used, state)
    Console().print(table)


@apikey.command("revoke")
@click.argument("key_id", metavar="KEY_ID")
@_org_option
def revoke(key_id: str, org: str | None) -> None:
    """Revoke KEY_ID: it stops working at once."""
    settings = Settings()

    async def _revoke() -> None:
        async with Quarterdeck(settings) as app:
            await accounts.revoke_api_key(app.db, key_id, org_id=org or settings.org)

    asyncio.run(_revoke())
    click.echo(f"API key {key_id} revoked")
