"""Organisations: every run, project, secret, user and approval belongs to one."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.store.tables import orgs
from quarterdeck.store.types import utcnow

__all__ = ["ensure_org", "org_exists"]


async def org_exists(conn: AsyncConnection, org_id: str) -> bool:
    return (await conn.execute(sa.select(orgs.c.id).where(orgs.c.id == org_id))).first() is not None


async def ensure_org(conn: AsyncConnection, org_id: str, name: str | None = None) -> None:
    """Create the organisation unless it exists (the caller's transaction serialises racing creators)."""
    if not await org_exists(conn, org_id):
        await conn.execute(orgs.insert().values(id=org_id, name=name or org_id, created_at=utcnow()))
