"""Users and API keys as operations (hash, check, store), shared by the routes and the CLI commands."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from quarterdeck.domain import ids
from quarterdeck.errors import InputError
from quarterdeck.security import opaque, passwords
from quarterdeck.store import identity
from quarterdeck.store import orgs as org_store
from quarterdeck.store.database import Database
from quarterdeck.store.identity import ApiKeyRecord, UserRecord
from quarterdeck.store.types import utcnow

__all__ = [
    "ROLES",
    "ApiKeyRecord",
    "UserRecord",
    "create_api_key",
    "create_user",
    "has_users",
    "normalise_email",
    "read_api_keys",
    "read_user",
    "read_user_by_email",
    "read_users",
    "revoke_api_key",
    "update_user",
]

ROLES = ("viewer", "member", "admin")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: use {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> None:
    problem = passwords.check_strength(password)
    if problem is not None:
        raise InputError(problem)


async def create_user(
    db: Database, *, org_id: str, email: str, name: str, role: str, password: str, create_org: bool = False
) -> UserRecord:
    """Add a user to ``org_id`` (created first when ``create_org``, as the first admin's bootstrap needs)."""
    _check_role(role)
    _check_password(password)
    ids.check_safe_name(org_id, what="organisation")
    if "@" not in email.strip("@") or any(c.isspace() for c in email.strip()):
        raise InputError(f"{email!r} is not an e-mail address")
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with db.transaction() as conn:
        if create_org:
            await org_store.ensure_org(conn, org_id)
        elif not await org_store.org_exists(conn, org_id):
            raise InputError(f"no organisation {org_id!r}")
        return await identity.create_user(
            conn, org_id=org_id, email=email, name=name, password_hash=password_hash, role=role, now=utcnow()
        )


async def update_user(
    db: Database,
    user_id: str,
    *,
    org_id: str,
    name: str | None = None,
    role: str | None = None,
    password: str | None = None,
    disabled: bool | None = None,
) -> UserRecord:
    """Change a user; the organisation's last enabled admin can be neither demoted nor disabled."""
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = name
    if role is not None:
        values["role"] = _check_role(role)
    if password is not None:
        _check_password(password)
        values["password_hash"] = await asyncio.to_thread(passwords.hash_password, password)
    if disabled is not None:
        values["disabled_at"] = utcnow() if disabled else None
    async with db.transaction() as conn:
        current = await identity.read_user(conn, user_id, org_id=org_id)
        losing_admin = (
            current.role == "admin"
            and current.disabled_at is None
            and ((role is not None and role != "admin") or disabled is True)
        )
        if losing_admin and await identity.count_admins(conn, org_id) <= 1:
            raise InputError("the organisation's last admin can be neither demoted nor disabled")
        return await identity.update_user(conn, user_id, org_id=org_id, **values)


async def create_api_key(
    db: Database,
    *,
    org_id: str,
    user_id: str | None,
    name: str,
    role: str,
    expires_in: timedelta | None = None,
    now: datetime | None = None,
) -> tuple[ApiKeyRecord, str]:
    """A new key and its one-time secret (``qdk_<prefix>_<secret>``); only its hash is stored."""
    _check_role(role)
    now = now or utcnow()
    minted = opaque.mint(opaque.API_KEY)
    async with db.transaction() as conn:
        if not await org_store.org_exists(conn, org_id):
            raise InputError(f"no organisation {org_id!r}")
        record = await identity.create_api_key(
            conn,
            org_id=org_id,
            user_id=user_id,
            name=name,
            prefix=minted.lookup,
            key_hash=minted.digest,
            role=role,
            now=now,
            expires_at=now + expires_in if expires_in else None,
        )
    return record, minted.token


async def read_users(db: Database, *, org_id: str, after: str | None = None, limit: int = 10_000) -> list[UserRecord]:
    """The organisation's users by id (after the id ``after``)."""
    async with db.read() as conn:
        return await identity.read_users(conn, org_id=org_id, after=after, limit=limit)


async def read_user(db: Database, user_id: str, *, org_id: str) -> UserRecord:
    """The organisation's user, or NotFound."""
    async with db.read() as conn:
        return await identity.read_user(conn, user_id, org_id=org_id)


def normalise_email(email: str) -> str:
    """An e-mail address as users are looked up by (``identity.normalise_email``)."""
    return identity.normalise_email(email)


async def read_user_by_email(db: Database, email: str) -> UserRecord | None:
    """The user with that e-mail address, if there is one."""
    async with db.read() as conn:
        return await identity.read_user_by_email(conn, email)


async def read_api_keys(
    db: Database, *, org_id: str, after: str | None = None, limit: int = 10_000
) -> list[ApiKeyRecord]:
    """The organisation's API keys by id, after the id ``after`` (their hashes stay in the store)."""
    async with db.read() as conn:
        return await identity.read_api_keys(conn, org_id=org_id, after=after, limit=limit)


async def revoke_api_key(db: Database, key_id: str, *, org_id: str) -> ApiKeyRecord:
    """Revoke one of the organisation's API keys, now (again: no change); NotFound for one it has not."""
    async with db.transaction() as conn:
        return await identity.revoke_api_key(conn, key_id, org_id=org_id, now=utcnow())


async def has_users(db: Database) -> bool:
    """Whether anybody can sign in yet (else ``serve`` says how to create the first admin)."""
    async with db.read() as conn:
        return await identity.has_users(conn)
