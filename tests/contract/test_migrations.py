"""The migrations create exactly the schema ``store/tables.py`` declares, on both backends."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from quarterdeck.store import migrations
from quarterdeck.store.database import Database
from quarterdeck.store.tables import DEFAULT_ORG, metadata, orgs


async def test_migrated_schema_matches_the_declared_tables(db: Database) -> None:
    def diff(sync_conn: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return [d for d in compare_metadata(context, metadata) if not _only_rate_limits(d) and not _claim_index(d)]

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_default_organisation_exists(db: Database) -> None:
    async with db.read() as conn:
        assert (await conn.execute(sa.select(orgs.c.id))).scalars().all() == [DEFAULT_ORG]


async def test_the_claim_index_is_in_the_claims_order(db: Database) -> None:
    """Checked here because alembic cannot compare descending index columns on SQLite."""
    query = (
        "SELECT sql FROM sqlite_master WHERE name = 'ix_tasks_claim'"
        if db.dialect == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_tasks_claim'"
    )
    async with db.read() as conn:
        definition = (await conn.execute(sa.text(query))).scalar_one()
    columns = definition[definition.index("(") + 1 : definition.rindex(")")]
    assert [c.strip().lower() for c in columns.split(",")] == [
        "status",
        "priority desc",
        "path_estimate_ms desc",
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


async def test_the_head_that_opening_checks_is_alembic_s_head(db: Database) -> None:
    # ``Database.upgrade`` compares the stamp with ``migrations.HEAD`` before importing alembic
    assert db.head_revision() == migrations.HEAD
    assert await db.current_revision() == migrations.HEAD
    assert await db.upgrade() is False


async def test_opening_a_current_database_does_not_import_alembic(db: Database) -> None:
    # what every command pays: a current database is recognised by its stamp alone
    probe = (
        "import asyncio, sys\n"
        "from quarterdeck.store.database import Database\n"
        "async def main():\n"
        f"    db = Database({db.url!r})\n"
        "    ran = await db.upgrade()\n"
        "    await db.dispose()\n"
        "    print(ran, 'alembic' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    out = await asyncio.create_subprocess_exec(sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await out.communicate()
    assert out.returncode == 0
    assert stdout.decode().split() == ["False", "False"]
