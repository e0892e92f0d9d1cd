"""Whether the parts a process needs answer: the database (the API's readiness probe)."""

from __future__ import annotations

import sqlalchemy as sa

from quarterdeck.errors import StoreError
from quarterdeck.store.database import Database

__all__ = ["database_problem"]


async def database_problem(db: Database) -> str | None:
    """None when the database answers a trivial query, else why not."""
    try:
        async with db.read() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except StoreError as exc:
        return exc.message
    return None
