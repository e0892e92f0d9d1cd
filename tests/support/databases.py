"""Test databases: a SQLite file per test, or a PostgreSQL database cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import secrets

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type stubs

from quarterdeck.store.database import Database

ADMIN_URL = os.environ.get("QUARTERDECK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _dsn(database: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class PostgresTemplate:
    """A migrated template database, created once per test session and cloned per test."""

    def __init__(self) -> None:
        self.name = f"qd_tmpl_{os.getpid()}_{secrets.token_hex(3)}"

    def create(self) -> None:
        async def _create() -> None:
            await _admin(f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"')
            db = Database(_dsn(self.name))
            try:
                await db.upgrade()
            finally:
                await db.dispose()

        asyncio.run(_create())

    def clone(self) -> str:
        name = f"qd_t_{secrets.token_hex(6)}"
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        return name

    @staticmethod
    def url(name: str) -> str:
        return _dsn(name)

    @staticmethod
    def drop(name: str) -> None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def destroy(self) -> None:
        self.drop(self.name)
