"""The migrations create exactly the schema ``store/tables.py`` declares, on both backends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from quarterdeck.store.database import Database
from quarterdeck.store.tables import DEFAULT_ORG, metadata, orgs


async def test_migrated_schema_matches_the_declared_tables(db: Database) -> None:
    def diff(sync_conn: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata) if not _only_rate_limits(d)]

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_default_organisation_exists(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(orgs.c.id))).scalars().all() == [DEFAULT_ORG]


def _only_rate_limits(difference: Any) -> bool:
    """The LLM rate-limit table is declared by its own module (``store/ratelimits.py``), not in ``tables.py``."""
    return isinstance(difference, tuple) and difference[0] == "remove_table" and difference[1].name == "llm_rate_limits"
