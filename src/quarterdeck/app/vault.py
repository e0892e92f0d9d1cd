"""Secrets as operations: seal and store, list masked, re-seal with the newest key (routes and CLI share them)."""

from __future__ import annotations

from quarterdeck.domain import ids
from quarterdeck.errors import InputError
from quarterdeck.security import redaction, sealing
from quarterdeck.security.keyring import Keyring
from quarterdeck.store import secrets as secret_store
from quarterdeck.store.database import Database
from quarterdeck.store.secrets import SecretRecord
from quarterdeck.store.types import utcnow

__all__ = [
    "KINDS",
    "SecretRecord",
    "check_name",
    "delete_secret",
    "read_secrets",
    "remember_secrets",
    "reveal",
    "rotate",
    "set_secret",
]

#: what a secret may be
KINDS = secret_store.KINDS


def check_name(name: str) -> str:
    return ids.check_safe_name(name, what="secret name")


async def set_secret(db: Database, keys: Keyring, *, org_id: str, name: str, value: str, kind: str) -> SecretRecord:
    """Seal ``value`` under the newest key and store it as ``name`` (replacing an older value)."""
    check_name(name)
    if kind not in secret_store.KINDS:
        raise InputError(f"unknown kind {kind!r}: use {', '.join(secret_store.KINDS)}")
    if not value:
        raise InputError("a secret may not be empty")
    redaction.remember([value])
    sealed = sealing.seal(keys, value, context=sealing.secret_context(org_id, name))
    async with db.transaction() as conn:
        return await secret_store.upsert_secret(
            conn,
            org_id=org_id,
            name=name,
            kind=kind,
            ciphertext=sealed.ciphertext,
            key_id=sealed.key_id,
            masked=sealing.mask(value),
            now=utcnow(),
        )


async def remember_secrets(db: Database, keys: Keyring, *, org_id: str) -> None:
    """Open the organisation's secrets so that this process redacts them (before serving what a step wrote)."""
    async with db.read() as conn:
        records = await secret_store.read_all_secrets(conn, org_id=org_id)
    for record in records:
        try:
            reveal(keys, record)
        except sealing.SealError:
            continue  # sealed with a key this process lacks: no step of this server could have had it


def reveal(keys: Keyring, record: SecretRecord) -> str:
    """The plaintext, for handing to an agent; never for a response or a log line (this process redacts it)."""
    value = sealing.open_sealed(
        keys,
        sealing.Sealed(record.key_id, record.ciphertext),
        context=sealing.secret_context(record.org_id, record.name),
    )
    redaction.remember([value])
    return value


async def rotate(db: Database, keys: Keyring, *, org_id: str | None = None) -> int:
    """Re-seal every secret (of one organisation, if given) not sealed by the newest key; returns how many."""
    newest = sealing.newest_key_id(keys)
    count = 0
    async with db.transaction() as conn:
        for record in await secret_store.read_all_secrets(conn, org_id=org_id):
            if record.key_id == newest:
                continue
            resealed = sealing.seal(
                keys, reveal(keys, record), context=sealing.secret_context(record.org_id, record.name)
            )
            await secret_store.update_sealed(
                conn, record.id, ciphertext=resealed.ciphertext, key_id=resealed.key_id, now=utcnow()
            )
            count += 1
    return count


async def read_secrets(
    db: Database, *, org_id: str, after: str | None = None, limit: int = 10_000
) -> list[SecretRecord]:
    """The organisation's secrets by name (after the name ``after``), masked (never their values)."""
    async with db.read() as conn:
        return await secret_store.read_secrets(conn, org_id=org_id, after=after, limit=limit)


async def delete_secret(db: Database, *, org_id: str, name: str) -> None:
    """Forget one of the organisation's secrets (``NotFound`` when it has none of that name)."""
    async with db.transaction() as conn:
        await secret_store.delete_secret(conn, org_id=org_id, name=check_name(name))
