"""``quarterdeck db``: database maintenance."""

from __future__ import annotations

import asyncio

import click

from quarterdeck.app import schema
from quarterdeck.settings import Settings, mask_url

__all__ = ["db"]


@click.group()
def db() -> None:
    """Manage the database."""


@db.command()
def upgrade() -> None:
    """Apply pending migrations (also done automatically on first use)."""
    settings = Settings()

    ran = asyncio.run(schema.upgrade(settings))
    url = mask_url(settings.resolved_database_url())
    click.echo(f"{url}: {'migrated to head' if ran else 'already at head'}")
