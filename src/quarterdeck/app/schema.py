"""The database's schema, brought up to date on request (``quarterdeck db upgrade``)."""

from __future__ import annotations

from quarterdeck.settings import Settings
from quarterdeck.store.database import Database

__all__ = ["upgrade"]


async def upgrade(settings: Settings) -> bool:
    """Apply the pending migrations; False when the database was already at head."""
    database = Database(settings.resolved_database_url())
    try:
        return await database.upgrade()
    finally:
        await database.dispose()
