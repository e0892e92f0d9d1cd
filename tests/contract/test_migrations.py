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
        return [d for d in compare_metadata(context, metadata) if not _only_rate_limits(d) and not _claim_index(d)]

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_default_organisation_exists(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(orgs.c.id))).scalars().all() == [DEFAULT_ORG]


async def test_the_claim_index_is_in_the_claims_order(db: Database) -> None:
    """Checked here because alembic cannot compare descending index columns on SQLite."""
    query = (
        "SELECT sql FROM sqlite_master WHERE name = 'ix_tasks_claim'"
        if db.dialect == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_claim'"
    )
    async with db.engine.connect() as conn:
        definition = (await conn.execute(sa.text(query))).scalar_one()
    columns = definition[definition.index("(") + 1 : definition.rindex(")")]
    assert [c.strip().lower() for c in columns.split(",")] == [
        "status",
        "priority desc",
        "path_length desc",
        "seq",
        "pk",
    ]


def _claim_index(difference: Any) -> bool:
    return (
        isinstance(difference, tuple)
        and difference[0] in ("add_index", "remove_index")
        and difference[1].name == "ix_tasks_claim"
    )


def _only_rate_limits(difference: Any) -> bool:
    """The LLM rate-limit table is declared by its own module (``store/ratelimits.py``), not in ``tables.py``."""
    return isinstance(difference, tuple) and difference[0] == "remove_table" and difference[1].name == "llm_rate_limits"
