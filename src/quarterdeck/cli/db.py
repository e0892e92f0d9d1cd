"""``quarterdeck db``: database maintenance."""

from __future__ import annotations

import asyncio

import click

from quarterdeck.settings import Settings
from quarterdeck.store.database import Database, mask_url

__all__ = ["db"]


@click.group()
def db() -> None:
    """Manage the database."""


@db.command()
def upgrade() -> None:
    """Apply pending migrations (also done automatically on first use)."""
    settings = Settings()

    async def _upgrade() -> bool:
        database = Database(settings.resolved_database_url())
        try:
            return await database.upgrade()
        finally:
            await database.dispose()

    ran = asyncio.run(_upgrade())
    url = mask_url(settings.resolved_database_url())
    click.echo(f"{url}: {'migrated to head' if ran else 'already at head'}")
