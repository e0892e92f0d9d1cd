"""``quarterdeck secret``: provider keys and git credentials, sealed at rest; values come from stdin only."""

from __future__ import annotations

import asyncio
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from quarterdeck.app import Quarterdeck, vault
from quarterdeck.security.keyring import KeySettings
from quarterdeck.settings import Settings

__all__ = ["secret"]

_org_option = click.option("--org", default=None, help="The organisation [default: QUARTERDECK_ORG].")


@click.group()
def secret() -> None:
    """Manage secrets (sealed with QUARTERDECK_SECRET_KEY, or the generated key in the state directory)."""


@secret.command("set")
@click.argument("name")
@click.option("--kind", type=click.Choice(vault.KINDS), default="other", show_default=True)
@_org_option
def set_secret(name: str, kind: str, org: str | None) -> None:
    """Store NAME with the value read from stdin (never from the command line, which others can see)."""
    settings = Settings()
    keys = KeySettings().keyring(settings.state_dir)
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.UsageError(f"pipe the value into stdin, e.g. `pass show x | quarterdeck secret set {name}`")

    async def _set() -> vault.SecretRecord:
        async with Quarterdeck(settings) as app:
            return await vault.set_secret(app.db, keys, org_id=org or settings.org, name=name, value=value, kind=kind)

    record = asyncio.run(_set())
    click.echo(f"secret {record.name} ({record.kind}) stored: {record.masked}")


@secret.command("list")
@_org_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_secrets(org: str | None, as_json: bool) -> None:
    """List secrets, masked."""
    settings = Settings()

    async def _list() -> list[vault.SecretRecord]:
        async with Quarterdeck(settings) as app:
            return await vault.read_secrets(app.db, org_id=org or settings.org)

    found = asyncio.run(_list())
    if as_json:
        rows = [{"name": s.name, "kind": s.kind, "masked": s.masked, "key_id": s.key_id} for s in found]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"secrets of {org or settings.org}", title_justify="left")
    for column in ("name", "kind", "value", "key", "updated"):
        table.add_column(column)
    for s in found:
        table.add_row(s.name, s.kind, s.masked, s.key_id, s.updated_at.strftime("%Y-%m-%d %H:%M"))
    Console().print(table)


@secret.command("delete")
@click.argument("name")
@_org_option
def delete(name: str, org: str | None) -> None:
    """Delete NAME."""
    settings = Settings()

    async def _delete() -> None:
        async with Quarterdeck(settings) as app:
            await vault.delete_secret(app.db, org_id=org or settings.org, name=name)

    asyncio.run(_delete())
    click.echo(f"secret {name} deleted")


@secret.command("rotate")
def rotate() -> None:
    """Re-seal every secret of every organisation with the newest key (first in QUARTERDECK_SECRET_KEYS)."""
    settings = Settings()
    keys = KeySettings().keyring(settings.state_dir)

    async def _rotate() -> int:
        async with Quarterdeck(settings) as app:
            return await vault.rotate(app.db, keys)

    count = asyncio.run(_rotate())
    click.echo(f"{count} secret(s) sealed again with the newest key")
