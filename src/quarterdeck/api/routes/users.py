"""Users of the organisation: admins add, change, and disable them (the last admin stays)."""

from __future__ import annotations

from fastapi import status

from quarterdeck.api import accounts, convert, schemas
from quarterdeck.api.auth import Admin
from quarterdeck.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Svc
from quarterdeck.store import identity

__all__ = ["router"]

router = v1_router("users")


@router.get("/users")
async def list_users(
    principal: Admin, svc: Svc, limit: Limit = 50, cursor: Cursor = None
) -> schemas.Page[schemas.UserPublic]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    async with svc.db.read() as conn:
        found = await identity.read_users(conn, org_id=principal.org_id, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return schemas.Page[schemas.UserPublic](
        items=[convert.user(u) for u in found], next_cursor=encode_cursor(found[-1].id) if more else None
    )


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: schemas.UserCreate, principal: Admin, svc: Svc) -> schemas.UserPublic:
    record = await accounts.create_user(
        svc.db, org_id=principal.org_id, email=body.email, name=body.name, role=body.role, password=body.password
    )
    return convert.user(record)


@router.get("/users/{user_id}")
async def read_user(user_id: str, principal: Admin, svc: Svc) -> schemas.UserPublic:
    async with svc.db.read() as conn:
        return convert.user(await identity.read_user(conn, user_id, org_id=principal.org_id))


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: schemas.UserUpdate, principal: Admin, svc: Svc) -> schemas.UserPublic:
    """Change name, role or password, or disable (``disabled: true``) or enable the user."""
    record = await accounts.update_user(
        svc.db,
        user_id,
        org_id=principal.org_id,
        name=body.name,
        role=body.role,
        password=body.password,
        disabled=body.disabled,
    )
    if record.disabled_at is not None:
        svc.api_keys.forget(lambda caller: caller.user_id == record.id)  # their keys stop working here at once
    return convert.user(record)


@router.delete("/users/{user_id}")
async def disable_user(user_id: str, principal: Admin, svc: Svc) -> schemas.UserPublic:
    """Disable the user (kept for the audit trail): they can no longer sign in, their API keys stop working."""
    record = await accounts.update_user(svc.db, user_id, org_id=principal.org_id, disabled=True)
    svc.api_keys.forget(lambda caller: caller.user_id == record.id)  # their keys stop working here at once
    return convert.user(record)
