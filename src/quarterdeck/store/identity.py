"""Identity repository: users, API keys and refresh tokens, each scoped by its organisation.

An object of another organisation reads as missing (``NotFound``), never as forbidden, so a
caller learns nothing about what other organisations hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

from quarterdeck.domain import ids
from quarterdeck.errors import Conflict, NotFound
from quarterdeck.store.tables import api_keys, refresh_tokens, users

__all__ = [
    "ApiKeyRecord",
    "RefreshTokenRecord",
    "UserRecord",
    "count_admins",
    "create_api_key",
    "create_refresh_token",
    "create_user",
    "has_users",
    "normalise_email",
    "read_api_key",
    "read_api_key_by_prefix",
    "read_api_keys",
    "read_refresh_token",
    "read_user",
    "read_user_by_email",
    "read_users",
    "revoke_api_key",
    "revoke_refresh_chain",
    "revoke_refresh_token",
    "rotate_refresh_token",
    "touch_api_key",
    "update_user",
]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    org_id: str
    email: str
    name: str
    password_hash: str
    role: str
    created_at: datetime
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> UserRecord:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    org_id: str
    user_id: str | None
    name: str
    prefix: str
    key_hash: str
    role: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ApiKeyRecord:
        return cls(**{name: row[name] for name in cls.__slots__})

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    replaced_by: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> RefreshTokenRecord:
        return cls(**{name: row[name] for name in cls.__slots__})


def normalise_email(email: str) -> str:
    return email.strip().lower()


# --- users ----------------------------------------------------------------------------------------------


async def create_user(
    conn: AsyncConnection, *, org_id: str, email: str, name: str, password_hash: str, role: str, now: datetime
) -> UserRecord:
    """Add a user; ``Conflict`` if the e-mail is taken (in any organisation: it is the login)."""
    row = {
        "id": ids.new_id("u"),
        "org_id": org_id,
        "email": normalise_email(email),
        "name": name,
        "password_hash": password_hash,
        "role": role,
        "created_at": now,
        "disabled_at": None,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(users.insert(), [row])
    except exc.IntegrityError:
        raise Conflict(f"a user with e-mail {row['email']!r} already exists") from None
    return UserRecord.from_row(row)


async def read_user(conn: AsyncConnection, user_id: str, *, org_id: str | None = None) -> UserRecord:
    """The user, or NotFound (also for a user of another organisation when ``org_id`` is given)."""
    query = sa.select(users).where(users.c.id == user_id)
    if org_id is not None:
        query = query.where(users.c.org_id == org_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"no user {user_id!r}")
    return UserRecord.from_row(row._mapping)


async def read_user_by_email(conn: AsyncConnection, email: str) -> UserRecord | None:
    row = (await conn.execute(sa.select(users).where(users.c.email == normalise_email(email)))).first()
    return None if row is None else UserRecord.from_row(row._mapping)


async def read_users(
    conn: AsyncConnection, *, org_id: str, after: str | None = None, limit: int = 50
) -> list[UserRecord]:
    """An organisation's users by id (creation order), after the id ``after``."""
    query = sa.select(users).where(users.c.org_id == org_id)
    if after is not None:
        query = query.where(users.c.id > after)
    rows = await conn.execute(query.order_by(users.c.id).limit(limit))
    return [UserRecord.from_row(r._mapping) for r in rows]


async def has_users(conn: AsyncConnection) -> bool:
    """Whether anyone at all can sign in yet (a fresh installation has no user)."""
    return (await conn.execute(sa.select(users.c.id).limit(1))).first() is not None


async def count_admins(conn: AsyncConnection, org_id: str) -> int:
    """Enabled admins of the organisation."""
    query = sa.select(sa.func.count()).where(
        users.c.org_id == org_id, users.c.role == "admin", users.c.disabled_at.is_(None)
    )
    return int((await conn.execute(query)).scalar_one())


async def update_user(conn: AsyncConnection, user_id: str, *, org_id: str, **values: object) -> UserRecord:
    """Change a user's name, role, password hash or ``disabled_at``; NotFound for another organisation's."""
    if values:
        result = await conn.execute(
            users.update().where(users.c.id == user_id, users.c.org_id == org_id).values(**values)
        )
        if result.rowcount != 1:
            raise NotFound(f"no user {user_id!r}")
    return await read_user(conn, user_id, org_id=org_id)


# --- API keys -------------------------------------------------------------------------------------------


async def create_api_key(
    conn: AsyncConnection,
    *,
    org_id: str,
    user_id: str | None,
    name: str,
    prefix: str,
    key_hash: str,
    role: str,
    now: datetime,
    expires_at: datetime | None = None,
    scopes: list[str] | None = None,
) -> ApiKeyRecord:
    row = {
        "id": ids.new_id("k"),
        "org_id": org_id,
        "user_id": user_id,
        "name": name,
        "prefix": prefix,
        "key_hash": key_hash,
        "role": role,
        "scopes": list(scopes or []),
        "created_at": now,
        "last_used_at": None,
        "expires_at": expires_at,
        "revoked_at": None,
    }
    await conn.execute(api_keys.insert(), [row])
    return ApiKeyRecord.from_row(row)


async def read_api_key_by_prefix(conn: AsyncConnection, prefix: str) -> ApiKeyRecord | None:
    row = (await conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix))).first()
    return None if row is None else ApiKeyRecord.from_row(row._mapping)


async def read_api_key(conn: AsyncConnection, key_id: str, *, org_id: str) -> ApiKeyRecord:
    row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id, api_keys.c.org_id == org_id))).first()
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    return ApiKeyRecord.from_row(row._mapping)


async def read_api_keys(
    conn: AsyncConnection, *, org_id: str, after: str | None = None, limit: int = 50
) -> list[ApiKeyRecord]:
    query = sa.select(api_keys).where(api_keys.c.org_id == org_id)
    if after is not None:
        query = query.where(api_keys.c.id > after)
    rows = await conn.execute(query.order_by(api_keys.c.id).limit(limit))
    return [ApiKeyRecord.from_row(r._mapping) for r in rows]


async def revoke_api_key(conn: AsyncConnection, key_id: str, *, org_id: str, now: datetime) -> ApiKeyRecord:
    """Revoke a key (idempotent); NotFound for another organisation's."""
    await conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.org_id == org_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await read_api_key(conn, key_id, org_id=org_id)


async def touch_api_key(conn: AsyncConnection, key_id: str, *, now: datetime) -> None:
    await conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now))


# --- refresh tokens -------------------------------------------------------------------------------------


async def create_refresh_token(
    conn: AsyncConnection, *, token_id: str, user_id: str, token_hash: str, now: datetime, expires_at: datetime
) -> RefreshTokenRecord:
    row = {
        "id": token_id,
        "user_id": user_id,
        "token_hash": token_hash,
        "created_at": now,
        "expires_at": expires_at,
        "revoked_at": None,
        "replaced_by": None,
    }
    await conn.execute(refresh_tokens.insert(), [row])
    return RefreshTokenRecord.from_row(row)


async def read_refresh_token(conn: AsyncConnection, token_id: str) -> RefreshTokenRecord | None:
    row = (await conn.execute(sa.select(refresh_tokens).where(refresh_tokens.c.id == token_id))).first()
    return None if row is None else RefreshTokenRecord.from_row(row._mapping)


async def rotate_refresh_token(conn: AsyncConnection, token_id: str, *, replaced_by: str, now: datetime) -> bool:
    """Mark a live token as exchanged for ``replaced_by``; False if it was already used or revoked (a race)."""
    result = await conn.execute(
        refresh_tokens.update()
        .where(
            refresh_tokens.c.id == token_id,
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.replaced_by.is_(None),
        )
        .values(replaced_by=replaced_by, revoked_at=now)
    )
    return result.rowcount == 1


async def revoke_refresh_token(conn: AsyncConnection, token_id: str, *, now: datetime) -> None:
    await conn.execute(
        refresh_tokens.update()
        .where(refresh_tokens.c.id == token_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_refresh_chain(conn: AsyncConnection, token_id: str, *, now: datetime) -> list[str]:
    """Revoke a token and every token it was (transitively) exchanged for: the session it began.

    Called when a rotated token is presented again: either its owner or a thief holds a copy, and
    neither can be trusted, so the whole session ends. Returns the revoked ids.
    """
    revoked: list[str] = []
    current: str | None = token_id
    while current is not None and current not in revoked:
        record = await read_refresh_token(conn, current)
        if record is None:
            break
        await revoke_refresh_token(conn, current, now=now)
        revoked.append(current)
        current = record.replaced_by
    return revoked
