"""Secret repository: sealed values (provider keys, git credentials) per organisation, shown masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import NotFound
from quarterdeck.store.tables import secrets

__all__ = [
    "KINDS",
    "SecretRecord",
    "delete_secret",
    "read_all_secrets",
    "read_secret",
    "read_secret_names",
    "read_secrets",
    "update_sealed",
    "upsert_secret",
]

#: what a secret is for
KINDS = ("provider_key", "git_credential", "other")


@dataclass(frozen=True, slots=True)
class SecretRecord:
    id: str
    org_id: str
    name: str
    kind: str
    ciphertext: str
    key_id: str
    masked: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SecretRecord:
        return cls(**{name: row[name] for name in cls.__slots__})


async def upsert_secret(
    conn: AsyncConnection,
    *,
    org_id: str,
    name: str,
    kind: str,
    ciphertext: str,
    key_id: str,
    masked: str,
    now: datetime,
) -> SecretRecord:
    """Store a sealed secret under ``name``, replacing the organisation's previous value of that name."""
    values = {"kind": kind, "ciphertext": ciphertext, "key_id": key_id, "masked": masked, "updated_at": now}
    result = await conn.execute(
        secrets.update().where(secrets.c.org_id == org_id, secrets.c.name == name).values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(
            secrets.insert(), [{"id": ids.new_id("s"), "org_id": org_id, "name": name, "created_at": now, **values}]
        )
    return await read_secret(conn, org_id=org_id, name=name)


async def read_secret(conn: AsyncConnection, *, org_id: str, name: str) -> SecretRecord:
    row = (await conn.execute(sa.select(secrets).where(secrets.c.org_id == org_id, secrets.c.name == name))).first()
    if row is None:
        raise NotFound(f"no secret {name!r}")
    return SecretRecord.from_row(row._mapping)


async def read_secrets(
    conn: AsyncConnection, *, org_id: str, after: str | None = None, limit: int = 50
) -> list[SecretRecord]:
    """An organisation's secrets by name, after the name ``after``."""
    query = sa.select(secrets).where(secrets.c.org_id == org_id)
    if after is not None:
        query = query.where(secrets.c.name > after)
    rows = await conn.execute(query.order_by(secrets.c.name).limit(limit))
    return [SecretRecord.from_row(r._mapping) for r in rows]


async def read_secret_names(conn: AsyncConnection, *, org_id: str) -> list[str]:
    """The names of an organisation's secrets that reach agents as environment variables (no values read)."""
    query = sa.select(secrets.c.name).where(
        secrets.c.org_id == org_id, secrets.c.kind.in_(("provider_key", "git_credential"))
    )
    return list((await conn.execute(query.order_by(secrets.c.name))).scalars())


async def read_all_secrets(conn: AsyncConnection, *, org_id: str | None = None) -> list[SecretRecord]:
    """Every secret (of one organisation, if given), for a key rotation."""
    query = sa.select(secrets)
    if org_id is not None:
        query = query.where(secrets.c.org_id == org_id)
    rows = await conn.execute(query.order_by(secrets.c.org_id, secrets.c.name))
    return [SecretRecord.from_row(r._mapping) for r in rows]


async def update_sealed(conn: AsyncConnection, secret_id: str, *, ciphertext: str, key_id: str, now: datetime) -> None:
    await conn.execute(
        secrets.update().where(secrets.c.id == secret_id).values(ciphertext=ciphertext, key_id=key_id, updated_at=now)
    )


async def delete_secret(conn: AsyncConnection, *, org_id: str, name: str) -> None:
    result = await conn.execute(secrets.delete().where(secrets.c.org_id == org_id, secrets.c.name == name))
    if result.rowcount != 1:
        raise NotFound(f"no secret {name!r}")
